"""Old path of :mod:`wethink_verl.text_table`, kept importable for callers not yet moved (``benchmarks/bench_judge*.py``)."""

from .text_table import format_table  # noqa: F401
