"""A hard wall-clock (and memory) bound for work that can run away: warm worker processes that are
killed and replaced on overrun.

Why processes: math-verify bounds itself with ``signal.alarm``, which only works on a main thread;
verl runs sync reward functions in an executor thread of an async Ray actor, where math-verify
raises (and verl's old wrapper silently scored 0). Turning its timeouts off lets ``9^{9^{9}}`` run
forever; abandoning a ``ProcessPoolExecutor`` future leaves the worker burning a slot forever.
Here a call that overruns its budget gets its worker SIGKILLed and replaced, so the pool always
holds ``size`` workers and a call returns within ``timeout`` (+ pipe latency) from any thread,
event loop or Ray actor. Waiting for a free worker is bounded separately by ``queue_timeout``.

Workers fork from a forkserver that has already imported sympy/math-verify, so a replacement is
cheap; ``RLIMIT_AS`` turns a runaway allocation (``(10^{10^5})!``) into a MemoryError.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import io
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..procs import start_deaf_to_sigint

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 2.0
DEFAULT_MEMORY_LIMIT_MB = 3072
_PRELOAD = ["wethink_verl.verifiers._symbolic"]
_START_TIMEOUT_S = 120.0  # a cold spawn on a loaded 2-core box imports sympy in 1-10 s


@dataclass(frozen=True)
class Outcome:
    status: str  # ok | timeout | memory | error | crashed | busy
    value: Any = None
    detail: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _resolve(target: str, cache: dict):
    fn = cache.get(target)
    if fn is None:
        module, _, attr = target.partition(":")
        fn = getattr(importlib.import_module(module), attr)
        cache[target] = fn
    return fn


def _worker_main(conn, memory_limit_mb: int | None) -> None:
    """Runs in the worker process: one request at a time, forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_limit_mb:
        try:
            import resource

            limit = int(memory_limit_mb) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass
    resolved: dict = {}
    try:
        for module in _PRELOAD:
            importlib.import_module(module)
        conn.send(("ready", os.getpid()))
    except BaseException as e:  # noqa: BLE001 - report anything, including math-verify's BaseException timeouts
        conn.send(("error", f"worker start failed: {type(e).__name__}: {e}"))
        return
    while True:
        try:
            target, args, kwargs = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            conn.send(("ok", _resolve(target, resolved)(*args, **kwargs)))
        except MemoryError:
            conn.send(("memory", "memory limit exceeded"))
        except BaseException as e:  # noqa: BLE001
            conn.send(("error", f"{type(e).__name__}: {str(e)[:300]}"))


class _Worker:
    def __init__(self, ctx, memory_limit_mb: int | None):
        parent, child = ctx.Pipe(duplex=True)
        process_class = _process_class(ctx)
        self.proc = process_class(target=_worker_main, args=(child, memory_limit_mb), daemon=True, name="wethink-verifier")
        start_deaf_to_sigint(self.proc)  # a terminal's Ctrl-C is the parent's to handle
        child.close()
        self.conn = parent
        self.ready = False
        self.born = time.monotonic()

    def wait_ready(self, timeout: float) -> str | None:
        """None when ready, else why not."""
        if self.ready:
            return None
        try:
            if not self.conn.poll(timeout):
                return f"worker not ready after {timeout:.0f} s"
            kind, detail = self.conn.recv()
        except (EOFError, OSError) as e:
            return f"worker died while starting: {e!r}"
        if kind != "ready":
            return str(detail)
        self.ready = True
        return None

    def kill(self) -> None:
        try:
            self.proc.kill()
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.proc.join(timeout=5)
        try:
            self.conn.close()
        except OSError:
            pass
        try:
            self.proc.close()
        except ValueError:
            pass


try:  # forkserver needs fd passing (POSIX)
    from multiprocessing import forkserver as _mp_forkserver
    from multiprocessing import popen_forkserver as _popen_forkserver
    from multiprocessing import spawn as _mp_spawn
    from multiprocessing import util as _mp_util
    from multiprocessing.context import ForkServerProcess as _ForkServerProcess
    from multiprocessing.context import reduction as _reduction
    from multiprocessing.context import set_spawning_popen as _set_spawning_popen
except ImportError:  # pragma: no cover
    _ForkServerProcess = None


if _ForkServerProcess is not None:

    class _NoMainPopen(_popen_forkserver.Popen):
        """``popen_forkserver.Popen`` whose child never imports the caller's ``__main__``.

        multiprocessing's spawn and forkserver children re-import the parent's main module (as
        ``__mp_main__``) before running the target. For a script without an ``if __name__ ==
        "__main__"`` guard that re-runs the script in every worker, which then tries to start its
        own pool and dies ("An attempt has been made to start a new process before the current
        process has finished its bootstrapping phase"): every bounded call came back "crashed".
        With a guard it still costs a full re-import of the caller (verl, torch…) per worker.
        Workers need nothing from ``__main__`` (the target is ``_worker_main``, arguments are
        plain data), so the main-module entries are dropped from the preparation data.
        """

        # the body of popen_forkserver.Popen._launch (CPython 3.10-3.13), minus the main module
        def _launch(self, process_obj):
            prep_data = _mp_spawn.get_preparation_data(process_obj._name)
            prep_data.pop("init_main_from_name", None)
            prep_data.pop("init_main_from_path", None)
            buf = io.BytesIO()
            _set_spawning_popen(self)
            try:
                _reduction.dump(prep_data, buf)
                _reduction.dump(process_obj, buf)
            finally:
                _set_spawning_popen(None)
            self.sentinel, w = _mp_forkserver.connect_to_new_process(self._fds)
            _parent_w = os.dup(w)
            self.finalizer = _mp_util.Finalize(self, _mp_util.close_fds, (_parent_w, self.sentinel))
            with open(w, "wb", closefd=True) as f:
                f.write(buf.getbuffer())
            self.pid = _mp_forkserver.read_signed(self.sentinel)

    class _NoMainForkServerProcess(_ForkServerProcess):
        @staticmethod
        def _Popen(process_obj):
            return _NoMainPopen(process_obj)


def _process_class(ctx):
    if ctx.get_start_method() == "forkserver" and _ForkServerProcess is not None:
        return _NoMainForkServerProcess
    return ctx.Process


def _context():
    method = os.environ.get("WETHINK_MP_START") or (
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        # replaces the default ['__main__'] preload: the forkserver must not run the caller's
        # script either; has no effect when a forkserver already runs in this process (workers
        # then import lazily)
        ctx.set_forkserver_preload(list(_PRELOAD))
    return ctx


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


class WorkerPool:
    """``size`` warm worker processes; ``call`` is thread-safe, ``acall`` is its asyncio twin."""

    def __init__(
        self,
        size: int = 2,
        timeout: float = DEFAULT_TIMEOUT_S,
        memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
        queue_timeout: float = 300.0,
    ):
        if size < 1:
            raise ValueError("pool size must be >= 1")
        self.size, self.timeout, self.memory_limit_mb, self.queue_timeout = size, timeout, memory_limit_mb, queue_timeout
        self._ctx = _context()
        self._lock = threading.Lock()
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._all: set[_Worker] = set()
        self._closed = False
        self._pid = os.getpid()
        self.stats = PoolStats()
        self._executor = ThreadPoolExecutor(max_workers=max(4, 4 * size), thread_name_prefix="wethink-bounded")
        for _ in range(size):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.memory_limit_mb)
        with self._lock:
            self._all.add(worker)
        return worker

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        with self._lock:
            self._all.discard(worker)
            self.stats.restarts += 1
        return self._spawn()

    def warm_up(self, timeout: float = _START_TIMEOUT_S) -> None:
        """Block until every idle worker has started (benchmarks, tests, before a timed phase)."""
        taken = []
        try:
            for _ in range(self.size):
                taken.append(self._idle.get(timeout=timeout))
            for i, w in enumerate(taken):
                if w.wait_ready(timeout) is not None:
                    taken[i] = self._replace(w)
                    taken[i].wait_ready(timeout)
        finally:
            for w in taken:
                self._idle.put(w)

    def _count(self, status: str) -> None:
        with self._lock:
            self.stats.calls += 1
            attr = {"ok": "ok", "timeout": "timeouts", "memory": "memory", "error": "errors", "crashed": "crashed", "busy": "busy"}[status]
            setattr(self.stats, attr, getattr(self.stats, attr) + 1)

    def call(self, target: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Outcome:
        """Run ``module:function`` with args in a worker, bounded by ``timeout`` seconds of compute."""
        if self._closed:
            raise RuntimeError("worker pool is closed")
        budget = self.timeout if timeout is None else timeout
        try:
            worker = self._idle.get(timeout=self.queue_timeout)
        except queue.Empty:
            self._count("busy")
            return Outcome("busy", detail=f"no free verifier worker within {self.queue_timeout:.0f} s")
        outcome = Outcome("crashed", detail="not run")
        try:
            why = worker.wait_ready(_START_TIMEOUT_S)
            if why is not None:
                worker = self._replace(worker)
                why = worker.wait_ready(_START_TIMEOUT_S)
                if why is not None:
                    outcome = Outcome("crashed", detail=why)
                    return outcome
            start = time.monotonic()
            worker.conn.send((target, args, kwargs))
            if worker.conn.poll(budget):
                status, value = worker.conn.recv()
                elapsed = time.monotonic() - start
                if status == "ok":
                    outcome = Outcome("ok", value, "", elapsed)
                else:
                    outcome = Outcome(status, None, str(value), elapsed)
                    if status == "memory":  # the worker's heap is suspect after a MemoryError
                        worker = self._replace(worker)
            else:
                elapsed = time.monotonic() - start
                worker = self._replace(worker)
                outcome = Outcome("timeout", None, f"killed after {budget:g} s", elapsed)
        except (EOFError, OSError, BrokenPipeError) as e:
            worker = self._replace(worker)
            outcome = Outcome("crashed", None, f"worker died: {e!r}")
        finally:
            self._count(outcome.status)
            if self._closed:
                worker.kill()
            else:
                self._idle.put(worker)
        return outcome

    async def acall(self, target: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Outcome:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self.call, target, *args, timeout=timeout, **kwargs))

    def alive_workers(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._all if w.proc.is_alive()]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for w in workers:
            w.kill()
        self._executor.shutdown(wait=False, cancel_futures=True)


_default_pool: WorkerPool | None = None
_default_lock = threading.Lock()
_default_settings: dict = {}


def configure(size: int | None = None, timeout: float | None = None, memory_limit_mb: int | None = None) -> None:
    """Settings for the process-wide pool; a running pool is replaced when they change."""
    global _default_pool
    new = {k: v for k, v in (("size", size), ("timeout", timeout), ("memory_limit_mb", memory_limit_mb)) if v is not None}
    with _default_lock:
        if new == {k: _default_settings.get(k) for k in new}:
            return
        _default_settings.update(new)
        old, _default_pool = _default_pool, None
    if old is not None:
        old.close()


def get_pool() -> WorkerPool:
    """The process-wide pool, created on first use (and again in a forked child)."""
    global _default_pool
    pool = _default_pool
    if pool is not None and pool._pid == os.getpid() and not pool._closed:
        return pool
    with _default_lock:
        if _default_pool is None or _default_pool._pid != os.getpid() or _default_pool._closed:
            settings = {"size": int(os.environ.get("WETHINK_VERIFIER_WORKERS", 2))}
            settings.update(_default_settings)
            _default_pool = WorkerPool(**settings)
        return _default_pool


def shutdown() -> None:
    global _default_pool
    with _default_lock:
        pool, _default_pool = _default_pool, None
    if pool is not None and pool._pid == os.getpid():
        pool.close()


atexit.register(shutdown)
