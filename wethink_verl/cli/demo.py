"""``wethink-verl demo``. Exit status: 0 done; 1 a stage failed (named); 2 an --output-dir the demo
may not write into (a file, or a non-empty directory that is no earlier demo output)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole WeThink reward path on this CPU (dataset -> verl reward loop -> GRPO)")
    p.add_argument("--output-dir", default="outputs/demo",
                   help="a new or empty directory, or an earlier demo output (only the demo's own files there are replaced)")
    p.add_argument("--rows", type=int, default=12, help="prompts in the generated dataset (5 rollouts each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-judge", action="store_true", help="descriptive answers use the rule fallback instead of the Ray demo judge")
    p.add_argument("--reward-workers", type=int, default=2, help="reward.num_workers")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..demo.output_dir import OutputDirError, check_output_dir
    from ..demo.pipeline import DemoConfig, main_cli

    try:
        check_output_dir(args.output_dir)  # before any stage runs
    except OutputDirError as e:
        print(f"wethink-verl demo: {e}", file=sys.stderr)
        return 2

    return main_cli(DemoConfig(output_dir=args.output_dir, rows=args.rows, seed=args.seed, judge=not args.no_judge,
                               reward_workers=args.reward_workers))  # fmt: skip
