"""``wethink-verl``: score, prepare, judge, doctor, demo, easyr1-reward-path.

Sub-commands live in their own modules and import heavy dependencies (verl, Ray, torch) only
when they run, so ``wethink-verl score`` starts in well under a second.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

EXIT_BROKEN_PIPE = 141

# name -> module with add_parser(subparsers); a module that fails to import (a missing optional
# dependency) only disables its own command.
COMMANDS = {
    "score": "wethink_verl.offline",
    "prepare": "wethink_verl.data.cli",
    "judge": "wethink_verl.judge.cli",
    "doctor": "wethink_verl.integrations.doctor",
    "demo": "wethink_verl.demo.cli",
    "report": "wethink_verl.report.cli",
    "easyr1-reward-path": "wethink_verl.integrations.easyr1_cli",
}


def build_parser() -> argparse.ArgumentParser:
    from .version import __version__

    parser = argparse.ArgumentParser(prog="wethink-verl", description="WeThink's hybrid reward and data layer for verl / EasyR1")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        try:
            importlib.import_module(module).add_parser(sub)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("wethink_verl"):
                raise  # our own module missing is a broken install, not an optional dependency
            p = sub.add_parser(name, help=f"(unavailable: {e})")
            p.set_defaults(func=lambda _args, _e=e: _unavailable(_e))
    return parser


def _unavailable(error: Exception) -> int:
    print(f"this command needs a missing dependency: {error}", file=sys.stderr)
    return 2


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
    return status


if __name__ == "__main__":
    sys.exit(main())
