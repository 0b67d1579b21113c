"""``wethink-verl easyr1-reward-path``: where the EasyR1 reward-function file is."""

from __future__ import annotations

import argparse

from ..integrations import easyr1_reward_file


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("easyr1-reward-path", help="print the path of the EasyR1 reward-function file")
    p.add_argument("--with-function", action="store_true", help="print PATH:compute_score, ready for worker.reward.reward_function")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = str(easyr1_reward_file())
    print(f"{path}:compute_score" if args.with_function else path)
    return 0
