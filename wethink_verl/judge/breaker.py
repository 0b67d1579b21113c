"""A circuit breaker: stop calling an endpoint that keeps failing, probe it again after a pause."""

from __future__ import annotations

import threading
import time


class CircuitBreaker:
    """closed -> open when ``failures`` consecutive requests failed (timeouts, 429, 5xx, connection
    errors) *and* nothing succeeded for ``down_s`` seconds -> after ``reset_s`` half-open (one probe
    at a time) -> closed on a success, open again on a failure.

    ``down_s`` keeps a short burst of errors (a replica restarting, a 429 wave) from opening the
    circuit: retries handle those. Thread-safe; shared by every event loop that uses the judge.
    ``failures <= 0`` disables it.
    """

    def __init__(self, failures: int = 10, reset_s: float = 30.0, down_s: float = 10.0, clock=time.monotonic):
        self.threshold = int(failures)
        self.reset_s = float(reset_s)
        self.down_s = float(down_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_success = clock()  # an endpoint dead from the start also gets down_s of grace
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False
        self.opened = 0  # times it opened

    @property
    def state(self) -> str:
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a request go out now? (In half-open state only one probe at a time.)"""
        if self.threshold <= 0:
            return True
        with self._lock:
            state = self._state_locked()
            if state == "closed":
                return True
            if state == "half_open" and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._last_success = self._clock()
            self._opened_at = None
            self._probe_in_flight = False

    def record_failure(self) -> None:
        if self.threshold <= 0:
            return
        with self._lock:
            self._consecutive += 1
            was_probe = self._probe_in_flight
            self._probe_in_flight = False
            down_long_enough = self._clock() - self._last_success >= self.down_s
            if was_probe or (self._opened_at is None and self._consecutive >= self.threshold and down_long_enough):
                self.opened += 1  # opened, or re-opened after a failed probe
                self._opened_at = self._clock()

    def release_probe(self) -> None:
        """A probe that ended without a health signal (e.g. cancelled)."""
        with self._lock:
            self._probe_in_flight = False

    def retry_in(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.reset_s - (self._clock() - self._opened_at))
