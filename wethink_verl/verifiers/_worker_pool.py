"""The bounded pool (``WorkerPool``): ``size`` warm worker processes, the wait for a free one
(``bounded.queue_timeout_s``), one call's run under its budget (``bounded.timeout_s``), and the
starter thread that reaps killed workers and starts their replacements (a new forkserver when one
stops answering). How to get a pool and what the bound promises: ``bounded.py``."""

from __future__ import annotations

import collections
import contextlib
import contextvars
import logging
import math
import numbers
import os
import pickle
import queue
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import _workers
from ._pool_settings import (
    DEFAULT_MEMORY_LIMIT_MB,
    DEFAULT_QUEUE_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    START_ATTEMPTS,
    START_TIMEOUT_S,
    STAT_FIELD,
    Outcome,
    PoolSettings,
    PoolStats,
)
from ._worker_io import BlockingIO, LoopIO, LoopWaiter, PoolWorker, ThreadWaiter, exchange, run_sync, worker_ready
from ._workers import WorkerProcess

logger = logging.getLogger("wethink_verl.verifiers.bounded")

# every pool of this process (closed at exit, forgotten in a forked child: ``bounded.py``)
live_pools: "weakref.WeakSet[WorkerPool]" = weakref.WeakSet()
# (pool, wait_until) of the verifier running here: ``bounded.using``
caller_pool: contextvars.ContextVar = contextvars.ContextVar("wethink_bounded_pool", default=None)


class WorkerPool:
    """``size`` warm worker processes; ``call`` is thread-safe, ``acall`` is its asyncio twin (it
    waits and talks to the worker on the caller's event loop, blocking nothing)."""

    def __init__(
        self,
        size: int = 2,
        timeout: float = DEFAULT_TIMEOUT_S,
        memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
        queue_timeout: float = DEFAULT_QUEUE_TIMEOUT_S,
    ):
        self.settings = PoolSettings(int(size), float(timeout), memory_limit_mb, float(queue_timeout))
        self.size, self.timeout, self.memory_limit_mb = self.settings.size, self.settings.timeout, memory_limit_mb
        self.queue_timeout = self.settings.queue_timeout
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._idle: list[PoolWorker] = []
        self._waiters: collections.deque = collections.deque()
        self._all: set[PoolWorker] = set()
        self._closed = False
        self._start_error: str | None = None  # why the last worker start failed (None: it did not)
        self.stats = PoolStats()
        # threads for verifiers that block on this pool from inside (math) when called from asyncio
        self.executor = ThreadPoolExecutor(max_workers=max(4, 4 * self.size), thread_name_prefix="wethink-bounded")
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._starter = threading.Thread(target=self._start_workers, name="wethink-bounded-starter", daemon=True)
        live_pools.add(self)
        self._starter.start()
        for _ in range(self.size):
            self._jobs.put("spawn")

    @classmethod
    def from_settings(cls, settings: PoolSettings) -> "WorkerPool":
        return cls(settings.size, settings.timeout, settings.memory_limit_mb, settings.queue_timeout)

    # ---- public API ------------------------------------------------------------------------------
    def call(self, target: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Outcome:
        """Run ``module:function`` with args in a worker: waits at most ``queue_timeout`` for a free
        worker, then runs at most ``timeout`` seconds (default and ceiling: the pool's)."""
        return run_sync(self._call(BlockingIO(self), target, args, kwargs, timeout))

    async def acall(self, target: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Outcome:
        return await self._call(LoopIO(self), target, args, kwargs, timeout)

    def warm_up(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until all ``size`` workers run and are ready (benchmarks, tests, before a timed phase)."""
        deadline = time.monotonic() + timeout
        io, taken = BlockingIO(self), []
        try:
            while len(taken) < self.size and time.monotonic() < deadline:
                worker = self._acquire_blocking(deadline)
                if worker is None:
                    break
                problem = run_sync(worker_ready(io, worker, deadline))
                if problem is None:
                    taken.append(worker)
                elif problem == "busy":
                    self._release(worker)
                    break
                else:
                    self._discard(worker)
        finally:
            for worker in taken:
                self._release(worker)

    def alive_workers(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._all if w.proc.alive()]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers, self._all, self._idle = list(self._all), set(), []
            waiters, self._waiters = list(self._waiters), collections.deque()
        self._jobs.put(None)
        if self._starter is not threading.current_thread():
            self._starter.join(5.0)  # a launch in progress ends (its worker is then killed on arrival)
        with self._lock:
            workers += [w for w in self._all if w not in workers]
            self._all = set()
        for w in workers:
            w.proc.kill()
        for w in workers:
            w.proc.reap(0.5)
        for waiter in waiters:
            waiter.hand(None)
        if self._pid == os.getpid():
            self.executor.shutdown(wait=False, cancel_futures=True)

    # ---- one call --------------------------------------------------------------------------------
    def _budget(self, timeout: Any) -> tuple[float | None, str]:
        if timeout is None:
            return self.timeout, ""
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
            return None, f"invalid timeout {timeout!r}: a number of seconds"
        if math.isnan(timeout) or timeout <= 0:
            return None, f"invalid timeout {timeout!r}: must be > 0"
        return min(float(timeout), self.timeout), ""  # bounded.timeout_s is the ceiling

    def _wait_until(self, start: float) -> tuple[float, bool]:
        """(until when this call may wait for a worker, whether its caller's wait is already over)."""
        wait_until = start + self.queue_timeout
        ctx = caller_pool.get()
        if ctx is not None and ctx[0] is self and ctx[1] is not None:
            wait_until = min(wait_until, ctx[1])  # the caller's own wait (e.g. in an executor queue) counts
            return wait_until, start >= ctx[1]
        return wait_until, False

    async def _call(self, io, target: str, args: tuple, kwargs: dict, timeout: Any) -> Outcome:
        self._check_usable()
        start = time.monotonic()
        budget, why = self._budget(timeout)
        if budget is None:
            return self._count(Outcome("error", detail=why))
        try:
            request = pickle.dumps((target, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001 - e.g. an unpicklable option value
            return self._count(Outcome("error", detail=f"arguments cannot be sent to a worker: {type(e).__name__}: {e}"[:300]))
        wait_until, waited_out = self._wait_until(start)
        for _ in range(START_ATTEMPTS):
            worker = outcome = None
            try:
                worker = None if waited_out else await io.acquire(wait_until)
                if worker is None:
                    outcome = self._no_worker(start)
                    return self._count(outcome)
                problem = await worker_ready(io, worker, wait_until)
                if problem == "busy":  # still starting: untouched, it goes back
                    outcome = Outcome("busy", detail=f"no verifier worker ready within {self.queue_timeout:g} s", elapsed_s=time.monotonic() - start)
                elif problem is not None:
                    outcome = Outcome("crashed", detail=problem)
                    continue  # a worker that died while starting: try another
                else:
                    outcome = await exchange(io, worker, request, budget)
            finally:
                if worker is not None:
                    self._finish(worker, outcome)
            return self._count(outcome)
        return self._count(outcome)

    def _no_worker(self, start: float) -> Outcome:
        elapsed = time.monotonic() - start
        with self._lock:
            broken = self._start_error if not self._all else None
        if broken:
            return Outcome("crashed", detail=f"no verifier worker could be started: {broken}", elapsed_s=elapsed)
        return Outcome("busy", detail=f"no free verifier worker within {self.queue_timeout:g} s", elapsed_s=elapsed)

    def _finish(self, worker: PoolWorker, outcome: Outcome | None) -> None:
        """Back to the pool only after a complete exchange (or none at all); otherwise replaced."""
        stale = worker.proc.server is not None and worker.proc.server is not _workers._server
        if outcome is None or not worker.clean or outcome.status == "memory" or stale:
            self._discard(worker)  # the heap is suspect after a MemoryError, too
        else:
            self._release(worker)

    def _count(self, outcome: Outcome) -> Outcome:
        with self._lock:
            self.stats.calls += 1
            name = STAT_FIELD[outcome.status]
            setattr(self.stats, name, getattr(self.stats, name) + 1)
        return outcome

    def _check_usable(self) -> None:
        if self._closed:
            raise RuntimeError("worker pool is closed")
        if self._pid != os.getpid():
            raise RuntimeError("this worker pool belongs to the parent process; use bounded.get_pool() after a fork")

    # ---- workers in and out ----------------------------------------------------------------------
    def _acquire_blocking(self, wait_until: float) -> PoolWorker | None:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            waiter = ThreadWaiter()
            self._waiters.append(waiter)
        try:
            waiter.wait(max(0.0, wait_until - time.monotonic()))
        except BaseException:
            self._give_back(self._claim(waiter))
            raise
        return self._claim(waiter)

    async def _acquire_on_loop(self, loop, wait_until: float) -> PoolWorker | None:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            waiter = LoopWaiter(loop)
            self._waiters.append(waiter)
        wake = waiter.future
        expire = loop.call_later(max(0.0, wait_until - time.monotonic()), lambda: wake.done() or wake.set_result(None))
        try:
            await wake
        except BaseException:  # cancelled: a worker handed over meanwhile goes back, untouched
            self._give_back(self._claim(waiter))
            raise
        finally:
            expire.cancel()
        return self._claim(waiter)

    def _give_back(self, worker: PoolWorker | None) -> None:
        if worker is not None:
            self._release(worker)

    def _claim(self, waiter) -> PoolWorker | None:
        """The worker handed to ``waiter``, or None (then the waiter leaves the queue)."""
        with self._lock:
            worker = waiter.worker
            if worker is None:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            waiter.worker = None
        if worker is not None and self._closed:
            worker.proc.kill()
            return None
        return worker

    def _release(self, worker: PoolWorker) -> None:
        with self._lock:
            if not self._closed:
                while self._waiters:
                    if self._waiters.popleft().hand(worker):
                        return
                self._idle.append(worker)
                return
        worker.proc.kill()
        worker.proc.reap(0.5)

    def _discard(self, worker: PoolWorker) -> None:
        worker.proc.kill()
        with self._lock:
            self._all.discard(worker)
            self.stats.restarts += 1
        self._jobs.put(worker)  # reaped, then replaced, off the caller's thread

    def _start_workers(self) -> None:
        """The pool's starter thread: reaps killed workers and starts replacements, each launch
        with a deadline; a forkserver that misses it is killed and a new one started."""
        backoff, failures = 0.5, 0
        while True:
            job = self._jobs.get()
            if job is None or self._closed or self._pid != os.getpid():
                return
            if isinstance(job, PoolWorker):
                job.proc.reap()
                job = "spawn"
            try:
                worker = PoolWorker(WorkerProcess(self.memory_limit_mb))
            except Exception as e:  # noqa: BLE001 - a stopped or broken forkserver, no fds left, …
                failures += 1
                why = f"{type(e).__name__}: {str(e).strip()[:300]}"
                (logger.warning if failures <= 3 or failures % 100 == 0 else logger.debug)(
                    "could not start a verifier worker (%s); retrying in %.1f s with a new forkserver [%d failures in a row]", why, backoff, failures)
                self._fail_waiters_if_empty(why)
                if _workers._server is not None:
                    self._retire_server(_workers._server)
                time.sleep(backoff)
                backoff = min(2 * backoff, 10.0)
                self._jobs.put("spawn")
                continue
            backoff, failures, self._start_error = 0.5, 0, None
            with self._lock:
                self._all.add(worker)
            self._release(worker)

    def _fail_waiters_if_empty(self, why: str) -> None:
        """With no worker at all, waiting callers learn at once that none could be started."""
        with self._lock:
            self._start_error = why
            waiters = list(self._waiters) if not self._all else []
            if waiters:
                self._waiters.clear()
        for waiter in waiters:
            waiter.hand(None)

    def _retire_server(self, server) -> None:
        """Kill a forkserver that stopped answering; its idle workers go now, busy ones on return."""
        _workers.replace_server(server)
        with self._lock:
            stale = [w for w in self._idle if w.proc.server is server]
            self._idle = [w for w in self._idle if w.proc.server is not server]
        for worker in stale:
            self._discard(worker)

    def _forget_after_fork(self) -> None:
        """In a forked child: this pool is the parent's. Never touch its workers; drop our fd copies."""
        self._closed = True
        self._lock = threading.Lock()
        for worker in self._all:
            worker.proc.forget_after_fork()
        self._all, self._idle, self._waiters = set(), [], collections.deque()
