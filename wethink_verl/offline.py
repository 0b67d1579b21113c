"""Old home of ``wethink-verl score``: the command is :mod:`wethink_verl.cli.score`, its engine
:mod:`wethink_verl.jsonl_scoring`; these names stay importable from here for callers not yet moved."""

from .cli.score import EXIT_USAGE, UsageError, add_parser, build_scorer_config, load_config_file, parse_overrides, run  # noqa: F401
from .jsonl_scoring import CHUNK, encode_line  # noqa: F401
