"""``wethink-verl score``: offline scoring of a JSONL file with the training reward.

Contract (see README): each input line has ``response`` and usually ``answer``; optional
``verifier``, ``verifier_kwargs``, ``category``, ``reward``, ``problem``, ``image``. Each output
line is the input plus ``score``, ``accuracy``, ``format``, ``verifier``, ``reason``, ``error``
(null, or why the line could not be scored) and ``warning`` (null, or e.g. "no 'answer' field").
A bad line never stops the run, and encoding its output is part of its isolation; every input
line is counted (blank ones as skipped). The config, the input and the output are checked before
scoring. Exit status: 0; 1 with ``--strict`` and an error; 2 a mistake found before scoring;
130 / 143 on SIGINT / SIGTERM (the previous output kept, no ``.partial`` left).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from ..jsonl_scoring import ScoreRun, score_jsonl, summary_table

EXIT_USAGE = 2  # a usage, config, input or output mistake, found before any scoring


class UsageError(Exception):
    """A mistake found before scoring: one line on stderr, exit status 2."""


class Interrupted(BaseException):
    """SIGINT / SIGTERM: clean up, exit 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.status = 128 + signum


def _raise_interrupted(signum, _frame):
    raise Interrupted(signum)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="score a JSONL file of responses with the training reward",
        description="Score a JSONL file of responses with the training reward. Exit status: 0 done; 1 with --strict "
        "when a line has an error; 2 a usage, config, input or output mistake (nothing scored); 130 / 143 "
        "interrupted by SIGINT / SIGTERM (the previous output is kept).",
    )  # fmt: skip
    p.add_argument("--input", required=True, help="JSONL file (or - for stdin)")
    p.add_argument("--output", required=True, help="JSONL file (or - for stdout)")
    p.add_argument("--answer-only", action="store_true", help="responses are already answers: no <answer> block, no format term")
    p.add_argument("--workers", type=int, default=2, help="bounded verifier worker processes (math-verify)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per bounded verifier call (default 2)")
    p.add_argument("--concurrency", type=_positive_int, default=64, help="samples in flight")
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
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError as e:
            raise UsageError(f"--set {item!r}: the value is not valid YAML ({_first_line(e)})") from None
    return out


def _first_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200]


def load_config_file(path: str | None) -> dict:
    if not path:
        return {}
    import yaml

    where = Path(path)
    if where.is_dir():
        raise UsageError(f"--config {path} is a directory, not a YAML/JSON file")
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--config {path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--config {path}: cannot read it ({_first_line(e)})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise UsageError(f"--config {path} is not valid YAML: {_first_line(e)}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: a reward config must be a mapping, not a {type(data).__name__}")
    return data


def build_scorer_config(args: argparse.Namespace) -> dict:
    from ..reward.config import deep_merge

    overrides: dict = {"bounded": {"workers": args.workers}}
    if args.timeout is not None:
        overrides["bounded"]["timeout_s"] = args.timeout
    cfg = deep_merge(load_config_file(args.config), overrides)
    cfg = deep_merge(cfg, _judge_overrides(args))
    try:
        return deep_merge(cfg, parse_overrides(args.set))
    except ValueError as e:  # a dotted key through a non-mapping value
        raise UsageError(str(e)) from None


def _check_paths(args: argparse.Namespace) -> None:
    """Input readable, output writable: checked before anything is scored."""
    if args.input != "-":
        where = Path(args.input)
        if where.is_dir():
            raise UsageError(f"--input {args.input} is a directory, not a JSONL file")
        if not where.exists():
            raise UsageError(f"input file not found: {args.input}")
        if not os.access(where, os.R_OK):
            raise UsageError(f"--input {args.input} is not readable")
    if args.output != "-":
        out = Path(args.output)
        if out.is_dir():
            raise UsageError(f"--output {args.output} is a directory: name a file")
        parent = out.parent
        if not parent.is_dir():
            raise UsageError(f"--output {args.output}: the folder {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"--output {args.output}: the folder {parent} is not writable")


def _report(args, scorer, judge, run: ScoreRun) -> None:
    from ..judge.stats import activity_line
    from ..reward.config import describe_reward_range
    from ..reward.rescue import rescue_line

    to = sys.stderr if args.output == "-" else sys.stdout  # stdout may be the JSONL output
    print(summary_table(run.rows), file=to)
    if judge is not None:
        js = judge.stats_dict()
        failed = ", ".join(f"{k} {v}" for k, v in js["failed_by_kind"].items()) or "none"
        print(f"judge ({js['endpoint']}): {js['requests']} items, {js['calls']} requests, dedupe hits {js['dedupe_hit_rate']:.0%}, "
              f"{js['verdicts']} verdicts, {js['failed']} failed ({failed}; fallback: {scorer.config.judge.fallback})", file=to)  # fmt: skip
        for line in filter(None, (activity_line(js), rescue_line(scorer.stats.as_dict()))):
            print(f"  {line}", file=to)
    stats = scorer.stats.as_dict()
    if stats["unmapped_values"]:
        print("unmapped routing values: " + ", ".join(f"{k} ({v})" for k, v in stats["unmapped_values"].items()), file=to)
    print(describe_reward_range(scorer.config), file=to)
    blank = f", {len(run.blank)} blank (skipped)" if run.blank else ""
    print(f"{run.lines} lines read: {len(run.rows)} scored, {run.errors} with errors{blank}"
          + (f" -> {args.output}" if args.output != "-" else ""), file=to)  # fmt: skip
    if run.no_answer:
        print(f"warning: {len(run.no_answer)} of {len(run.rows)} lines have no 'answer' field and were scored as "
              f"format-only checks (each such output line has a 'warning'); first: {run.first_warning}", file=sys.stderr)  # fmt: skip


def _prepare(args: argparse.Namespace):
    """(config, judge): everything checked before scoring starts."""
    from ..judge import build_judge
    from ..reward.config import build_config

    _check_paths(args)
    cfg = build_scorer_config(args)
    try:
        full = build_config(cfg)
        return cfg, build_judge(full["judge"])
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None


def _score_to(args, scorer, judge) -> ScoreRun:
    """Score into OUT.partial (renamed to OUT when complete) or stdout; interrupted: no partial left."""
    out_path = Path(args.output) if args.output != "-" else None
    tmp = out_path.with_name(out_path.name + ".partial") if out_path else None
    instream = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    try:
        out = open(tmp, "wb") if tmp else sys.stdout.buffer
    except OSError as e:
        instream.close()
        raise UsageError(f"--output {args.output}: cannot write {tmp} ({_first_line(e)})") from None

    async def score_all():
        try:
            return await score_jsonl(scorer, instream, out, answer_only=args.answer_only, concurrency=args.concurrency, progress=not args.quiet)
        finally:
            if judge is not None:
                await judge.aclose()

    try:
        run = asyncio.run(score_all())
    except BaseException:
        if tmp is not None:  # keep the previous output, leave no partial file behind
            out.close()
            tmp.unlink(missing_ok=True)
        raise
    finally:
        if instream is not sys.stdin.buffer:
            instream.close()
        if judge is not None:
            judge.close()
    if tmp is not None:
        out.close()
        tmp.replace(out_path)  # complete output only
    else:
        out.flush()
    return run


def run(args: argparse.Namespace) -> int:
    from ..reward import RewardScorer

    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            cfg, judge = _prepare(args)
        except UsageError as e:
            print(f"wethink-verl score: {e}", file=sys.stderr)
            return EXIT_USAGE
        try:
            scorer = RewardScorer(cfg, judge=judge)
        except ValueError as e:  # a bad option value: named with its allowed range, no traceback
            raise UsageError(f"bad reward config: {e}") from None
        run_ = _score_to(args, scorer, judge)
        _report(args, scorer, judge, run_)
        return 1 if (args.strict and run_.errors) else 0
    except UsageError as e:
        print(f"wethink-verl score: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as e:
        print(f"wethink-verl score: interrupted ({e}); the previous output is kept, no partial file left", file=sys.stderr)
        return e.status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
