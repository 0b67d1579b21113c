"""A hard wall-clock (and memory) bound for work that can run away: warm worker processes that are
killed and replaced on overrun.

Why processes: math-verify bounds itself with ``signal.alarm``, which only works on a main thread;
verl runs sync reward functions in an executor thread of an async Ray actor, where math-verify
raises (and verl's old wrapper silently scored 0). Turning its timeouts off lets ``9^{9^{9}}`` run
forever; abandoning a ``ProcessPoolExecutor`` future leaves the worker burning a slot forever.

The bound, for every call from any thread, event loop or Ray actor:

- **waiting** for a free worker (a replacement's start-up included) takes at most ``queue_timeout``
  seconds (``bounded.queue_timeout_s``); a call that could not start in time is ``busy``;
- **running** takes at most ``timeout`` seconds (``bounded.timeout_s``; a per-call ``timeout`` can
  lower it, never raise it); a call that overruns gets its worker SIGKILLed: ``timeout``;
- every pipe send and receive has that deadline, and starting a replacement (in a background
  thread, so no caller waits for a fork) has its own: a stopped worker or forkserver is a timeout
  or a busy call, never a hang.

A worker whose call did not complete (overrun, KeyboardInterrupt, asyncio cancellation, any
exception on the way) is never used again: it is killed and replaced, and each reply must carry
its request's id, so a reply can never reach another call. ``RLIMIT_AS`` turns a runaway
allocation (``(10^{10^5})!``) into a ``memory`` status.

Pools are keyed by their settings (``get_pool(PoolSettings(...))``) and never reconfigured, so no
scorer can cancel another's calls; after ``os.fork`` the child gets fresh pools and never signals
the parent's workers. Verifiers that use a pool from inside (math) get the caller's with
``current_pool()``, set by ``using(pool)``.

This module is the pool's public face: the process-wide pools, ``current_pool``/``using``, and the
names callers use (``WorkerPool``, ``PoolSettings``, ``Outcome``, ``run_sync``). The pool itself is
``_worker_pool.py``; talking to one worker under deadlines, ``_worker_io.py``; the worker process
and its forkserver, ``_workers.py``; the settings and a call's outcome, ``_pool_settings.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from typing import Any, Callable, Iterator

from . import _workers
from ._pool_settings import DEFAULT_MEMORY_LIMIT_MB, DEFAULT_QUEUE_TIMEOUT_S, DEFAULT_TIMEOUT_S, Outcome, PoolSettings, PoolStats
from ._worker_io import run_sync
from ._worker_pool import WorkerPool, caller_pool, live_pools

__all__ = [
    "DEFAULT_MEMORY_LIMIT_MB",
    "DEFAULT_QUEUE_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "Outcome",
    "PoolSettings",
    "PoolStats",
    "WorkerPool",
    "current_pool",
    "default_settings",
    "get_pool",
    "run_in",
    "run_sync",
    "shutdown",
    "using",
]


# ---- the process-wide pools, one per settings ----------------------------------------------------
_pools: dict[PoolSettings, WorkerPool] = {}
_pools_lock = threading.Lock()


def default_settings() -> PoolSettings:
    return PoolSettings(size=int(os.environ.get("WETHINK_VERIFIER_WORKERS", 2)))


def get_pool(settings: PoolSettings | None = None) -> WorkerPool:
    """The process-wide pool for ``settings`` (default: ``default_settings()``), created on first use
    (and again in a forked child). Pools are never reconfigured: other settings, another pool."""
    settings = settings or default_settings()
    pool = _pools.get(settings)
    if pool is not None and not pool._closed and pool._pid == os.getpid():
        return pool
    with _pools_lock:
        pool = _pools.get(settings)
        if pool is None or pool._closed or pool._pid != os.getpid():
            pool = _pools[settings] = WorkerPool.from_settings(settings)
        return pool


def current_pool() -> WorkerPool:
    """The pool of the scorer running this verifier (``using``), else the default one."""
    ctx = caller_pool.get()
    if ctx is not None and not ctx[0]._closed and ctx[0]._pid == os.getpid():
        return ctx[0]
    return get_pool(ctx[0].settings if ctx is not None else None)


@contextlib.contextmanager
def using(pool: WorkerPool, wait_until: float | None = None) -> Iterator[WorkerPool]:
    """Make ``pool`` the ``current_pool()`` here; calls made inside start by ``wait_until`` or are busy."""
    token = caller_pool.set((pool, wait_until))
    try:
        yield pool
    finally:
        caller_pool.reset(token)


def run_in(pool: WorkerPool, wait_until: float | None, fn: Callable[[], Any]) -> Any:
    """``fn()`` with ``pool`` current (the body of an executor job)."""
    with using(pool, wait_until):
        return fn()


def shutdown() -> None:
    """Close every pool this process started (at exit too: no worker outlives it)."""
    with _pools_lock:
        _pools.clear()
    for pool in list(live_pools):
        if pool._pid == os.getpid():
            pool.close()


def _after_fork_in_child() -> None:
    global _pools_lock
    _pools_lock = threading.Lock()
    _pools.clear()
    for pool in list(live_pools):
        pool._forget_after_fork()
    _workers.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown)
