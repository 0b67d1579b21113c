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
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import contextvars
import logging
import math
import numbers
import os
import pickle
import queue
import socket
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import _workers
from ._workers import HEADER, READY_ID, WorkerProcess


logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 2.0
DEFAULT_MEMORY_LIMIT_MB = 3072
DEFAULT_QUEUE_TIMEOUT_S = 60.0
_START_TIMEOUT_S = 120.0  # a worker not ready this long after its birth is replaced
_READY_READ_S = 5.0  # reading a ready frame that has started to arrive
_START_ATTEMPTS = 2  # workers that die while starting before a call gives up ("crashed")


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


_STAT_FIELD = {"ok": "ok", "timeout": "timeouts", "memory": "memory", "error": "errors", "crashed": "crashed", "busy": "busy"}


def run_sync(coro):
    """Drive a coroutine that never suspends (the sync paths here and in the scorer) to its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a sync path suspended; this is a bug")


class _Worker:
    """A pool member: the process, and whether its pipe is between exchanges (``clean``)."""

    def __init__(self, proc: WorkerProcess):
        self.proc = proc
        self.sock = proc.sock
        self.ready = False
        self.clean = True
        self.next_id = READY_ID + 1


# ---- waiting for a worker: one FIFO of waiters, threads and event loops alike -------------------
class _ThreadWaiter:
    def __init__(self):
        self.worker: _Worker | None = None
        self._event = threading.Event()

    def hand(self, worker: _Worker) -> bool:
        self.worker = worker
        self._event.set()
        return True

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _LoopWaiter:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.worker: _Worker | None = None
        self.loop = loop
        self.future = loop.create_future()

    def hand(self, worker: _Worker) -> bool:
        if self.future.done():  # timed out or cancelled: it removes itself
            return False
        self.worker = worker
        try:
            if _running_loop() is self.loop:
                self._wake()  # released on the waiter's own loop: no cross-thread wake-up needed
            else:
                self.loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # its loop is closed
            self.worker = None
            return False
        return True

    def _wake(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


# ---- pipe I/O: the same exchange, blocking (threads) or on an event loop --------------------------
class _Expired(Exception):
    """A deadline passed during a pipe operation."""


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Expired
    return left


class _BlockingIO:
    """Blocking socket operations with deadlines; its coroutines never suspend (see ``run_sync``)."""

    def __init__(self, pool: "WorkerPool"):
        self.pool = pool

    async def acquire(self, wait_until: float) -> _Worker | None:
        return self.pool._acquire_blocking(wait_until)

    @staticmethod
    async def readable(sock: socket.socket, deadline: float) -> bool:
        try:
            sock.settimeout(_remaining(deadline))
            sock.recv(1, socket.MSG_PEEK)  # b"" at EOF: readable, the read then says EOF
            return True
        except (_Expired, TimeoutError):
            return False
        except OSError:
            return True  # the read that follows says what is wrong

    @staticmethod
    async def send(sock: socket.socket, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        try:
            while view:
                sock.settimeout(_remaining(deadline))
                view = view[sock.send(view) :]
        except TimeoutError as e:
            raise _Expired from e

    @staticmethod
    async def recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        try:
            while got < n:
                sock.settimeout(_remaining(deadline))
                k = sock.recv_into(view[got:])
                if k == 0:
                    raise EOFError("the worker closed its pipe")
                got += k
        except TimeoutError as e:
            raise _Expired from e
        return bytes(buf)


class _LoopIO:
    """The same operations as ``_BlockingIO`` on the running event loop: non-blocking socket calls,
    and a wait for readiness (with its deadline as a timer) only when the socket is not ready."""

    def __init__(self, pool: "WorkerPool"):
        self.pool = pool
        self.loop = asyncio.get_running_loop()

    async def acquire(self, wait_until: float) -> _Worker | None:
        return await self.pool._acquire_on_loop(self.loop, wait_until)

    async def _ready(self, sock: socket.socket, deadline: float, write: bool) -> None:
        """Until ``sock`` is readable (or writable), or ``_Expired`` at ``deadline``."""
        loop, fd = self.loop, sock.fileno()
        fut = loop.create_future()
        done = lambda: fut.done() or fut.set_result(None)  # noqa: E731
        expire = loop.call_later(_remaining(deadline), lambda: fut.done() or fut.set_exception(_Expired()))
        (loop.add_writer if write else loop.add_reader)(fd, done)
        try:
            await fut
        finally:
            expire.cancel()
            (loop.remove_writer if write else loop.remove_reader)(fd)

    async def readable(self, sock: socket.socket, deadline: float) -> bool:
        try:
            await self._ready(sock, deadline, write=False)
            return True
        except _Expired:
            return False

    async def send(self, sock: socket.socket, data: bytes, deadline: float) -> None:
        sock.setblocking(False)
        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view) :]
            except BlockingIOError:
                await self._ready(sock, deadline, write=True)

    async def recv_exact(self, sock: socket.socket, n: int, deadline: float) -> bytes:
        sock.setblocking(False)
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            try:
                k = sock.recv_into(view[got:])
            except BlockingIOError:
                await self._ready(sock, deadline, write=False)
                continue
            if k == 0:
                raise EOFError("the worker closed its pipe")
            got += k
        return bytes(buf)


async def _recv_frame(io, sock: socket.socket, deadline: float) -> tuple[int, bytes]:
    request_id, n = HEADER.unpack(await io.recv_exact(sock, HEADER.size, deadline))
    return request_id, await io.recv_exact(sock, n, deadline)


# ---- the pool --------------------------------------------------------------------------------------
_live_pools: "weakref.WeakSet[WorkerPool]" = weakref.WeakSet()
_context: contextvars.ContextVar = contextvars.ContextVar("wethink_bounded_pool", default=None)


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
        self._idle: list[_Worker] = []
        self._waiters: collections.deque = collections.deque()
        self._all: set[_Worker] = set()
        self._closed = False
        self._start_error: str | None = None  # why the last worker start failed (None: it did not)
        self.stats = PoolStats()
        # threads for verifiers that block on this pool from inside (math) when called from asyncio
        self.executor = ThreadPoolExecutor(max_workers=max(4, 4 * self.size), thread_name_prefix="wethink-bounded")
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._starter = threading.Thread(target=self._start_workers, name="wethink-bounded-starter", daemon=True)
        _live_pools.add(self)
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
        return run_sync(self._call(_BlockingIO(self), target, args, kwargs, timeout))

    async def acall(self, target: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Outcome:
        return await self._call(_LoopIO(self), target, args, kwargs, timeout)

    def warm_up(self, timeout: float = _START_TIMEOUT_S) -> None:
        """Block until all ``size`` workers run and are ready (benchmarks, tests, before a timed phase)."""
        deadline = time.monotonic() + timeout
        io, taken = _BlockingIO(self), []
        try:
            while len(taken) < self.size and time.monotonic() < deadline:
                worker = self._acquire_blocking(deadline)
                if worker is None:
                    break
                problem = run_sync(self._ready(io, worker, deadline))
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
        ctx = _context.get()
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
        for _ in range(_START_ATTEMPTS):
            worker = outcome = None
            try:
                worker = None if waited_out else await io.acquire(wait_until)
                if worker is None:
                    outcome = self._no_worker(start)
                    return self._count(outcome)
                problem = await self._ready(io, worker, wait_until)
                if problem == "busy":  # still starting: untouched, it goes back
                    outcome = Outcome("busy", detail=f"no verifier worker ready within {self.queue_timeout:g} s", elapsed_s=time.monotonic() - start)
                elif problem is not None:
                    outcome = Outcome("crashed", detail=problem)
                    continue  # a worker that died while starting: try another
                else:
                    outcome = await self._exchange(io, worker, request, budget)
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

    async def _ready(self, io, worker: _Worker, wait_until: float) -> str | None:
        """None when ready; "busy" when it is still starting at ``wait_until``; else what went wrong."""
        if worker.ready:
            return None
        if time.monotonic() - worker.proc.born > _START_TIMEOUT_S:
            worker.clean = False
            return f"worker not ready {_START_TIMEOUT_S:g} s after its start"
        if not await io.readable(worker.sock, wait_until):
            return "busy"
        worker.clean = False
        try:
            _, payload = await _recv_frame(io, worker.sock, time.monotonic() + _READY_READ_S)
            kind, detail = pickle.loads(payload)
        except (EOFError, OSError, _Expired, pickle.UnpicklingError) as e:
            return f"worker died while starting: {e!r}"
        if kind != "ready":
            return str(detail)
        worker.ready = worker.clean = True
        return None

    async def _exchange(self, io, worker: _Worker, request: bytes, budget: float) -> Outcome:
        start = time.monotonic()
        deadline = start + budget
        request_id, worker.next_id = worker.next_id, worker.next_id + 1
        worker.clean = False  # until the whole reply is read: an interruption before that kills it
        try:
            await io.send(worker.sock, HEADER.pack(request_id, len(request)) + request, deadline)
            reply_id, payload = await _recv_frame(io, worker.sock, deadline)
        except _Expired:
            return Outcome("timeout", None, f"killed after {budget:g} s", time.monotonic() - start)
        except (EOFError, OSError) as e:
            return Outcome("crashed", None, f"worker died: {e!r}", time.monotonic() - start)
        elapsed = time.monotonic() - start
        if reply_id != request_id:  # cannot happen with the rules above; if it ever does, it is caught
            return Outcome("crashed", None, f"reply to request {reply_id} received for request {request_id}", elapsed)
        worker.clean = True
        try:
            status, value = pickle.loads(payload)
        except Exception as e:  # noqa: BLE001 - e.g. a result class the parent cannot import
            return Outcome("error", None, f"result cannot be read: {type(e).__name__}: {e}"[:300], elapsed)
        if status == "ok":
            return Outcome("ok", value, "", elapsed)
        return Outcome(status, None, str(value), elapsed)

    def _finish(self, worker: _Worker, outcome: Outcome | None) -> None:
        """Back to the pool only after a complete exchange (or none at all); otherwise replaced."""
        stale = worker.proc.server is not None and worker.proc.server is not _workers._server
        if outcome is None or not worker.clean or outcome.status == "memory" or stale:
            self._discard(worker)  # the heap is suspect after a MemoryError, too
        else:
            self._release(worker)

    def _count(self, outcome: Outcome) -> Outcome:
        with self._lock:
            self.stats.calls += 1
            name = _STAT_FIELD[outcome.status]
            setattr(self.stats, name, getattr(self.stats, name) + 1)
        return outcome

    def _check_usable(self) -> None:
        if self._closed:
            raise RuntimeError("worker pool is closed")
        if self._pid != os.getpid():
            raise RuntimeError("this worker pool belongs to the parent process; use bounded.get_pool() after a fork")

    # ---- workers in and out ----------------------------------------------------------------------
    def _acquire_blocking(self, wait_until: float) -> _Worker | None:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            waiter = _ThreadWaiter()
            self._waiters.append(waiter)
        try:
            waiter.wait(max(0.0, wait_until - time.monotonic()))
        except BaseException:
            self._give_back(self._claim(waiter))
            raise
        return self._claim(waiter)

    async def _acquire_on_loop(self, loop, wait_until: float) -> _Worker | None:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            waiter = _LoopWaiter(loop)
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

    def _give_back(self, worker: _Worker | None) -> None:
        if worker is not None:
            self._release(worker)

    def _claim(self, waiter) -> _Worker | None:
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

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed:
                while self._waiters:
                    if self._waiters.popleft().hand(worker):
                        return
                self._idle.append(worker)
                return
        worker.proc.kill()
        worker.proc.reap(0.5)

    def _discard(self, worker: _Worker) -> None:
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
            if isinstance(job, _Worker):
                job.proc.reap()
                job = "spawn"
            try:
                worker = _Worker(WorkerProcess(self.memory_limit_mb))
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
    ctx = _context.get()
    if ctx is not None and not ctx[0]._closed and ctx[0]._pid == os.getpid():
        return ctx[0]
    return get_pool(ctx[0].settings if ctx is not None else None)


@contextlib.contextmanager
def using(pool: WorkerPool, wait_until: float | None = None) -> Iterator[WorkerPool]:
    """Make ``pool`` the ``current_pool()`` here; calls made inside start by ``wait_until`` or are busy."""
    token = _context.set((pool, wait_until))
    try:
        yield pool
    finally:
        _context.reset(token)


def run_in(pool: WorkerPool, wait_until: float | None, fn: Callable[[], Any]) -> Any:
    """``fn()`` with ``pool`` current (the body of an executor job)."""
    with using(pool, wait_until):
        return fn()


def shutdown() -> None:
    """Close every pool this process started (at exit too: no worker outlives it)."""
    with _pools_lock:
        _pools.clear()
    for pool in list(_live_pools):
        if pool._pid == os.getpid():
            pool.close()


def _after_fork_in_child() -> None:
    global _pools_lock
    _pools_lock = threading.Lock()
    _pools.clear()
    for pool in list(_live_pools):
        pool._forget_after_fork()
    _workers.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown)
