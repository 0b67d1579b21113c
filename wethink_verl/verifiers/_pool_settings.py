"""The bounded pool's values: its settings (the key of the process-wide pools, ``bounded.get_pool``),
the limits of a worker's start-up, what one call returns (``Outcome``) and the pool's counters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT_S = 2.0
DEFAULT_MEMORY_LIMIT_MB = 3072
DEFAULT_QUEUE_TIMEOUT_S = 60.0
START_TIMEOUT_S = 120.0  # a worker not ready this long after its birth is replaced
READY_READ_S = 5.0  # reading a ready frame that has started to arrive
START_ATTEMPTS = 2  # workers that die while starting before a call gives up ("crashed")


@dataclass(frozen=True)
class Outcome:
    status: str  # ok | timeout | memory | error | crashed | busy
    value: Any = None
    detail: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class PoolSettings:
    """What makes two pools different (and the key of the process-wide ones)."""

    size: int = 2
    timeout: float = DEFAULT_TIMEOUT_S
    memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB
    queue_timeout: float = DEFAULT_QUEUE_TIMEOUT_S

    def __post_init__(self):
        if int(self.size) < 1:
            raise ValueError(f"bounded.workers must be >= 1, got {self.size}")
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ValueError(f"bounded.timeout_s must be a finite number > 0, got {self.timeout}")
        if not (math.isfinite(self.queue_timeout) and self.queue_timeout >= 0):
            raise ValueError(f"bounded.queue_timeout_s must be a finite number >= 0, got {self.queue_timeout}")


@dataclass
class PoolStats:
    calls: int = 0
    ok: int = 0
    timeouts: int = 0
    memory: int = 0
    errors: int = 0
    crashed: int = 0
    busy: int = 0
    restarts: int = 0
    by_status: dict = field(default_factory=dict)


# the PoolStats counter of each Outcome status
STAT_FIELD = {"ok": "ok", "timeout": "timeouts", "memory": "memory", "error": "errors", "crashed": "crashed", "busy": "busy"}
