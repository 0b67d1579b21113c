"""``wethink-verl``: score, prepare, judge, doctor, demo, report, easyr1-reward-path.

One module per sub-command, each with ``add_parser(subparsers)`` and ``run(args)`` (``judge``'s
``audit`` in its own module, ``judge_audit``). They are imported statically here and import heavy
dependencies (verl, Ray, torch, the scorer) only inside ``run``, so ``wethink-verl score`` starts in
well under a second and a missing optional dependency only stops the command that needs it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import demo, doctor, easyr1, judge, prepare, report, score

EXIT_BROKEN_PIPE = 141
EXIT_MISSING_DEPENDENCY = 2

# in the order ``--help`` lists them
COMMANDS = (score, prepare, judge, doctor, demo, report, easyr1)


def build_parser() -> argparse.ArgumentParser:
    from ..version import __version__

    parser = argparse.ArgumentParser(prog="wethink-verl", description="WeThink's hybrid reward and data layer for verl / EasyR1")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`wethink-verl doctor --json | head`): no traceback, and none at
        # exit either (Python flushes stdout again then); 141 = 128 + SIGPIPE, as for a C tool
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] == "wethink_verl":
            raise  # our own module missing is a broken install, not an optional dependency
        print(f"wethink-verl {args.command}: this command needs a missing dependency: {e}", file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY
    return status
