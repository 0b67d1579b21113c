"""``wethink-verl doctor``: the host framework, plugin registration and dependencies, checked
(``integrations/doctor.py``). Exit status 1 when a check fails."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from ..integrations.doctor import run_checks
from ..text_table import format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the host framework, plugin registration and dependencies")
    p.add_argument("--judge-url", help="also send one test item to this OpenAI-compatible judge")
    p.add_argument("--judge-model", help="model name for --judge-url")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks = run_checks(args.judge_url, args.judge_model)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        print(format_table(["check", "status", "detail"], [[c.name, c.status, c.detail] for c in checks], title="wethink-verl doctor"))
    return 1 if any(c.status == "FAIL" for c in checks) else 0
