"""Jobs that misbehave on purpose, run in the bounded pool's worker processes by the tests of its
time and memory bounds (``pool.call("wethink_verl.testing.bounded_jobs:sleep_for", 5)``)."""

from __future__ import annotations

import time


def sleep_for(seconds: float) -> str:
    """A deliberately slow job."""
    time.sleep(seconds)
    return "slept"


def allocate_mb(megabytes: int) -> int:
    """A deliberately large allocation."""
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)
