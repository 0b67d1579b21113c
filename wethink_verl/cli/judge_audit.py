"""``wethink-verl judge audit``: is this judge fit to grade, measured on your data before training
(its inputs, rows and candidates: audit/candidates.py; its measures: audit/measures.py).

    wethink-verl judge audit --data train.parquet --judge-url http://127.0.0.1:8000/v1 [--samples 100]

1. **Rows with a known truth.** From the data (verl parquet from ``prepare``, WeThink JSON lines /
   JSON array, EasyR1 JSONL) it draws ``--samples`` rows a rule verifier checks (the reward
   config's routing decides, as in training), spread over the categories, keeping only rows whose
   own ground truth the rule accepts.
2. **Candidates** per row (``CANDIDATE_KINDS``): the gold as written; the gold in other words
   (the option text for a letter, a number with its unit, in another unit or in words, a
   rephrased sentence); wrong answers (other options, near-miss numbers, another row's answer);
   and injection probes (a wrong answer plus "ignore previous instructions…", a fake verdict or
   closing tag, a tag in confusable letters, a chat-template break, a note to the grader). The
   truth of every candidate but the probes is the rule verifier's verdict on it, so only
   candidates a precise rule can decide are kept (a rewording the rule cannot read is dropped).
3. **Asks the judge** through the same client as training (``judge.*`` config: timeouts,
   retries, dedupe, concurrency, rate limits) with the reference the rescue uses ("B. dog").
4. **Reports** agreement with the truth (a verdict at or above ``--positive-at`` says "right"),
   precision and recall overall and per category, a confusion matrix, injection resistance
   (probes that scored above their wrong answer without the injection: must be 0), verdict parse
   failures, latency percentiles and throughput: a table on the terminal, ``audit.json`` and
   ``audit.png`` in ``--out``.

Exit status: 0 fit (agreement, precision and recall at least ``--min-agreement``, default 0.9;
no probe raised a score; parse failures at most ``--max-parse-failures``, default 0.05); 1 not
fit (the table and audit.json say which check failed); 2 usage errors, unreadable data, no
rule-checkable rows, or a judge that answered nothing (unreachable, every request failed).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..audit.candidates import DataError, build_candidates, draw_rows, load_samples
from ..audit.measures import ask, checks, format_report, measure, write_png

EXIT_FIT, EXIT_NOT_FIT, EXIT_USAGE = 0, 1, 2
DEFAULT_MIN_AGREEMENT = 0.9
DEFAULT_MAX_PARSE_FAILURES = 0.05


def add_parser(jsub: argparse._SubParsersAction) -> None:
    a = jsub.add_parser("audit", help="measure a judge on your data before training: agreement, injection resistance, latency",
                        description=__doc__.split("\n\n")[1])  # fmt: skip
    a.add_argument("--data", required=True, help="verl parquet (train.parquet) or WeThink JSON lines / JSON array")
    a.add_argument("--judge-url", required=True, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    a.add_argument("--judge-model", default=None, help="model name (default: ask /v1/models)")
    a.add_argument("--api-key-env", default=None, help="environment variable holding the API key")
    a.add_argument("--samples", type=int, default=100, help="rows to draw (each gives about 7 candidates)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--min-agreement", type=float, default=DEFAULT_MIN_AGREEMENT, help="minimum agreement, precision and recall")
    a.add_argument("--max-parse-failures", type=float, default=DEFAULT_MAX_PARSE_FAILURES, help="maximum share of replies without a verdict")
    a.add_argument("--positive-at", type=float, default=1.0, help="a verdict at or above this says 'right' (judge.rescue.min_score)")
    a.add_argument("--template", default=None, help="judge template: default, short, rescue or a file (default: judge.template)")
    a.add_argument("--include-image", action="store_true", help="send each row's image (a vision-language judge; relative image_path values: --set judge.image_dir=IMAGE_ROOT)")
    a.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="reward config override, e.g. judge.max_tokens=64")
    a.add_argument("--out", default="judge_audit", help="directory for audit.json and audit.png")
    a.set_defaults(func=run_audit)


def _config(args: argparse.Namespace) -> dict:
    from .score import parse_overrides
    from ..reward.config import build_config

    judge = {"enable": True, "backend": "http", "url": args.judge_url, "model": args.judge_model, "api_key_env": args.api_key_env}
    if args.template:
        judge["template"] = args.template
    if args.include_image:
        judge["include_image"] = True
    return build_config({"judge": judge, **parse_overrides(args.set)})


def audit(args: argparse.Namespace) -> tuple[dict, list]:
    """The report (and its per-request latencies) for parsed ``judge audit`` arguments."""
    from ..judge import build_judge
    from ..reward import RewardScorer

    cfg = _config(args)
    rules = RewardScorer({k: v for k, v in cfg.items() if k != "judge"})  # the truth: rules only
    rows, counts = draw_rows(load_samples(args.data), rules, args.samples, args.seed)
    if not rows:
        raise DataError(f"--data {args.data}: no row a rule verifier can check ({dict(counts)}): the audit needs rows with a known truth")
    candidates, dropped = build_candidates(rows, rules, args.seed)
    judge = build_judge(cfg["judge"])
    try:
        outcomes, wall = ask(judge, rows, candidates, bool(cfg["judge"].get("include_image")))
        endpoint = judge.transport.describe()
    finally:
        judge.close()
    report = {"judge": endpoint, "data": args.data, "rows": dict(counts), "candidates": len(candidates), "dropped_candidates": dict(dropped),
              "positive_at": args.positive_at, "min_agreement": args.min_agreement}  # fmt: skip
    report.update(measure(rows, candidates, outcomes, args.positive_at, wall))
    report["checks"] = checks(report, args.min_agreement, args.max_parse_failures)
    failed = [c["check"] for c in report["checks"] if not c["passed"]]
    report["fit"] = not failed
    report["verdict"] = "FIT: this judge passed every check" if not failed else "NOT FIT: failed " + "; ".join(failed)
    return report, [o.latency_ms for o in outcomes if not o.cached]


def run_audit(args: argparse.Namespace) -> int:
    from .score import UsageError
    from ..reward.config import ConfigError

    if not logging.getLogger().isEnabledFor(logging.DEBUG):  # -v: every failed item; otherwise the report counts them
        logging.getLogger("wethink_verl.judge").setLevel(logging.ERROR)
    try:
        report, latencies = audit(args)
    except (DataError, ConfigError, UsageError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    write_png(dict(report, _latencies=latencies), out / "audit.png")
    print(format_report(report))
    print(f"wrote {out / 'audit.json'} and {out / 'audit.png'}")
    answered = report["candidates"] - sum(v for k, v in report["failures"]["by_kind"].items() if k != "unparseable")
    if report["candidates"] and answered == 0:
        print(f"error: the judge answered no request ({report['failures']['by_kind']}): check --judge-url", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_FIT if report["fit"] else EXIT_NOT_FIT
