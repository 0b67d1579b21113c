"""``wethink-verl score``: offline scoring of a JSONL file with the training reward.

Contract (see README): each input line has ``response`` and usually ``answer``; optional
``verifier``, ``verifier_kwargs``, ``category``, ``reward``, ``problem``, ``image``. Each output
line is the input plus ``score``, ``accuracy``, ``format``, ``verifier``, ``reason`` and
``error`` (null, or why the line could not be scored). A bad line never stops the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from .table import format_table

CHUNK = 512


class _BadLine(str):
    """A line that could not even be decoded; its text is the reason."""


def _read_lines(path: str) -> Iterator[tuple[int, str]]:
    # bytes, decoded line by line: one undecodable line must not stop the run
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        for lineno, raw in enumerate(stream, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield lineno, _BadLine(f"invalid UTF-8: {e}")
                continue
            if line.strip():
                yield lineno, line
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _to_sample(record: Any, answer_only_flag: bool) -> dict:
    if not isinstance(record, dict):
        raise ValueError(f"line is a JSON {type(record).__name__}, not an object")
    if "response" not in record:
        raise ValueError("missing required field 'response'")
    if not isinstance(record["response"], str):
        raise ValueError(f"'response' must be a string, not {type(record['response']).__name__}")
    kwargs = record.get("verifier_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ValueError("'verifier_kwargs' must be an object")
    sample = {k: record.get(k) for k in ("response", "verifier", "category", "reward", "problem", "image", "image_size")}
    sample["ground_truth"] = record.get("answer", record.get("ground_truth"))
    sample["verifier_kwargs"] = kwargs
    if answer_only_flag:
        sample["answer_only"] = True
    if sample["ground_truth"] is None and not sample.get("verifier"):
        sample["verifier"] = "format"  # no ground truth: a format-only check
    return sample


def _summary(rows: list[tuple[str, str, dict]]) -> str:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    categories: dict[str, set] = defaultdict(set)
    for verifier, category, res in rows:
        groups[(verifier, category)].append(res)
        groups[(verifier, "(all)")].append(res)
        categories[verifier].add(category)
    table_rows = []
    for (verifier, category), results in sorted(groups.items()):
        if category == "(all)" and len(categories[verifier]) == 1:
            continue
        n = len(results)
        fmts = [r["format"] for r in results if r.get("format") is not None]
        table_rows.append(
            [
                verifier,
                category,
                n,
                sum(r["score"] for r in results) / n,
                sum(r["accuracy"] for r in results) / n,
                (sum(fmts) / len(fmts)) if fmts else None,
                sum(1 for r in results if r.get("error")),
                sum(r.get("fallback", 0) for r in results),
            ]
        )
    headers = ["verifier", "category", "n", "score", "accuracy", "format", "errors", "fallbacks"]
    return format_table(headers, table_rows, title="Scores by verifier and category")


async def _score_file(args, scorer) -> tuple[int, list[tuple[str, str, dict]]]:
    from tqdm import tqdm

    rows: list[tuple[str, str, dict]] = []
    errors = 0
    out_path = Path(args.output) if args.output != "-" else None
    tmp = out_path.with_name(out_path.name + ".partial") if out_path else None
    out = open(tmp, "w", encoding="utf-8") if tmp else sys.stdout
    bar = tqdm(desc="scoring", unit="resp", file=sys.stderr, disable=args.quiet)
    try:
        batch: list[tuple[int, Any, dict | None, str | None]] = []

        async def flush():
            nonlocal errors
            todo = [(i, s) for i, (_, _, s, _) in enumerate(batch) if s is not None]
            results = await scorer.ascore_many([s for _, s in todo], concurrency=max(1, args.concurrency))
            by_index = dict(zip((i for i, _ in todo), results))
            for i, (lineno, record, sample, parse_error) in enumerate(batch):
                base = record if isinstance(record, dict) else {"line": lineno, "input": record}
                if parse_error is not None:
                    res = {"score": 0.0, "accuracy": 0.0, "format": 0.0, "verifier": "none", "reason": parse_error, "error": f"line {lineno}: {parse_error}"}
                else:
                    res = by_index[i]
                error = res.get("error")
                if error:
                    errors += 1
                merged = dict(base)
                merged.update(
                    score=res["score"], accuracy=res["accuracy"], format=res["format"], verifier=res["verifier"],
                    reason=res.get("reason"), error=error,
                )  # fmt: skip
                out.write(json.dumps(merged, ensure_ascii=False) + "\n")
                category = str(base.get("category") or "-") if isinstance(base, dict) else "-"
                rows.append((res["verifier"], category, res))
            bar.update(len(batch))
            batch.clear()

        for lineno, line in _read_lines(args.input):
            if isinstance(line, _BadLine):
                batch.append((lineno, None, None, str(line)))
                if len(batch) >= CHUNK:
                    await flush()
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                batch.append((lineno, line.rstrip("\n")[:200], None, f"invalid JSON: {e}"))
            else:
                try:
                    batch.append((lineno, record, _to_sample(record, args.answer_only), None))
                except ValueError as e:
                    batch.append((lineno, record, None, str(e)))
            if len(batch) >= CHUNK:
                await flush()
        if batch:
            await flush()
    except BaseException:
        if tmp is not None:  # interrupted: keep the previous output, leave no partial file behind
            tmp.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
        if out is not sys.stdout:
            out.close()
    if tmp is not None:
        tmp.replace(out_path)  # complete output only: a crash leaves no half-written file
    return errors, rows


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score a JSONL file of responses with the training reward")
    p.add_argument("--input", required=True, help="JSONL file (or - for stdin)")
    p.add_argument("--output", required=True, help="JSONL file (or - for stdout)")
    p.add_argument("--answer-only", action="store_true", help="responses are already answers: no <answer> block, no format term")
    p.add_argument("--workers", type=int, default=2, help="bounded verifier worker processes (math-verify)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per bounded verifier call (default 2)")
    p.add_argument("--concurrency", type=int, default=64, help="samples in flight")
    p.add_argument("--config", help="YAML/JSON file of reward config overrides")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, e.g. format_weight=0.5")
    p.add_argument("--strict", action="store_true", help="exit 1 when any line has an error")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    j = p.add_argument_group("LLM judge (descriptive samples; README 'LLM judge')")
    j.add_argument("--judge-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (turns the judge on)")
    j.add_argument("--judge-model", help="the request's model name (default: ask the endpoint's /v1/models)")
    j.add_argument("--judge-api-key-env", metavar="VAR", help="environment variable holding the API key")
    j.add_argument("--judge-ray-name", metavar="NAME", help="use our Ray judge service of this name (turns the judge on)")
    j.add_argument("--judge-template", help="judge template name or file (default: default)")
    j.add_argument("--judge-timeout", type=float, help="seconds per judge request (default 60)")
    j.add_argument("--judge-concurrency", type=int, help="judge requests in flight (default 64)")
    j.add_argument("--judge-fallback", help="when the judge cannot answer: a verifier name, zero or fixed (default text)")
    p.set_defaults(func=run)


def _judge_overrides(args: argparse.Namespace) -> dict:
    out: dict = {}
    if getattr(args, "judge_url", None):
        out.update(enable=True, backend="http", url=args.judge_url)
    if getattr(args, "judge_ray_name", None):
        out.update(enable=True, backend="ray", ray={"name": args.judge_ray_name})
    for flag, key in (("judge_model", "model"), ("judge_api_key_env", "api_key_env"), ("judge_template", "template"),
                      ("judge_timeout", "timeout_s"), ("judge_concurrency", "concurrency"), ("judge_fallback", "fallback")):  # fmt: skip
        value = getattr(args, flag, None)
        if value is not None:
            out[key] = value
    return {"judge": out} if out else {}


def parse_overrides(items: list[str]) -> dict:
    import yaml

    out: dict = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def load_config_file(path: str | None) -> dict:
    if not path:
        return {}
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: a reward config must be a mapping")
    return data


def build_scorer_config(args: argparse.Namespace) -> dict:
    from .reward.config import deep_merge

    overrides: dict = {"bounded": {"workers": args.workers}}
    if args.timeout is not None:
        overrides["bounded"]["timeout_s"] = args.timeout
    cfg = deep_merge(load_config_file(args.config), overrides)
    cfg = deep_merge(cfg, _judge_overrides(args))
    return deep_merge(cfg, parse_overrides(args.set))


def run(args: argparse.Namespace) -> int:
    from .reward import RewardScorer

    from .judge import build_judge
    from .reward.config import build_config

    if args.input != "-" and not Path(args.input).is_file():
        print(f"wethink-verl score: input file not found: {args.input}", file=sys.stderr)
        return 2
    cfg = build_scorer_config(args)
    try:
        judge = build_judge(build_config(cfg)["judge"])
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"judge: {e}")
    try:
        scorer = RewardScorer(cfg, judge=judge)
    except ValueError as e:  # a bad option value: named with its allowed range, no traceback
        raise SystemExit(f"wethink-verl score: bad reward config: {e}")

    async def score_all():
        try:
            return await _score_file(args, scorer)
        finally:
            if judge is not None:
                await judge.aclose()

    try:
        errors, rows = asyncio.run(score_all())
    finally:
        if judge is not None:
            judge.close()
    print(_summary(rows), file=sys.stderr if args.output == "-" else sys.stdout)
    if judge is not None:
        js = judge.stats_dict()
        failed = ", ".join(f"{k} {v}" for k, v in js["failed_by_kind"].items()) or "none"
        print(f"judge ({js['endpoint']}): {js['requests']} items, {js['calls']} requests, dedupe hits {js['dedupe_hit_rate']:.0%}, "
              f"{js['verdicts']} verdicts, {js['failed']} failed ({failed}; fallback: {scorer.config['judge']['fallback']})",
              file=sys.stderr if args.output == "-" else sys.stdout)  # fmt: skip
    stats = scorer.stats.as_dict()
    if stats["unmapped_values"]:
        print("unmapped routing values: " + ", ".join(f"{k} ({v})" for k, v in stats["unmapped_values"].items()),
              file=sys.stderr if args.output == "-" else sys.stdout)  # stdout may be the JSONL output
    print(f"{len(rows)} lines scored, {errors} with errors" + (f" -> {args.output}" if args.output != "-" else ""),
          file=sys.stderr if args.output == "-" else sys.stdout)
    return 1 if (args.strict and errors) else 0
