"""``wethink-verl report RUN_DIR [--out DIR]``: the rewards of a training run, as one HTML page.

Exit status: 0 written; 2 RUN_DIR does not exist; 3 nothing readable in it (no verl rollout dump,
``score`` output or metrics log: the message lists what was looked for and what was skipped).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..report.build import NothingToReport, build_report

EXIT_OK, EXIT_MISSING, EXIT_NOTHING = 0, 2, 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="the rewards of a training run (verl rollout dumps, score output, EasyR1 metrics) as an HTML page",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("run", metavar="RUN_DIR", help="a directory (searched recursively) or one JSONL file")
    p.add_argument("--out", help="output directory (default: RUN_DIR/wethink_report)")
    p.add_argument("--workers", type=int, default=None, help="reader processes (default: min(2, CPUs))")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not Path(args.run).exists():
        print(f"wethink-verl report: {args.run} does not exist", file=sys.stderr)
        return EXIT_MISSING
    try:
        summary = build_report(args.run, args.out, args.workers, args.quiet)
    except NothingToReport as e:
        print(f"wethink-verl report: {e}", file=sys.stderr)
        return EXIT_NOTHING
    flagged = len(summary["jumps"])
    print(f"{summary['rows']} rows from {len(summary['sources'])} files in {summary['read_seconds']:.1f} s; "
          f"{flagged} step jump{'s' * (flagged != 1)} flagged -> {Path(summary['out']) / 'report.html'}")  # fmt: skip
    for note in summary["notes"]:
        print(f"note: {note}")
    return EXIT_OK
