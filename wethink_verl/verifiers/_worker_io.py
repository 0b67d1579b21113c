"""One bounded pool's worker seen from the pool: a member (``PoolWorker``), the FIFO of callers
waiting for one (threads and event loops alike), and one exchange with it, where every pipe send
and receive has a deadline, blocking (``BlockingIO``, for threads) or on the caller's event loop
(``LoopIO``). The worker process itself is ``_workers.py``; the pool, ``_worker_pool.py``."""

from __future__ import annotations

import asyncio
import pickle
import socket
import threading
import time
from typing import TYPE_CHECKING

from ._pool_settings import READY_READ_S, START_TIMEOUT_S, Outcome
from ._workers import HEADER, READY_ID, WorkerProcess

if TYPE_CHECKING:
    from ._worker_pool import WorkerPool


def run_sync(coro):
    """Drive a coroutine that never suspends (the sync paths here and in the scorer) to its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a sync path suspended; this is a bug")


class PoolWorker:
    """A pool member: the process, and whether its pipe is between exchanges (``clean``)."""

    def __init__(self, proc: WorkerProcess):
        self.proc = proc
        self.sock = proc.sock
        self.ready = False
        self.clean = True
        self.next_id = READY_ID + 1


# ---- waiting for a worker: one FIFO of waiters, threads and event loops alike -------------------
class ThreadWaiter:
    def __init__(self):
        self.worker: PoolWorker | None = None
        self._event = threading.Event()

    def hand(self, worker: PoolWorker) -> bool:
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


class LoopWaiter:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.worker: PoolWorker | None = None
        self.loop = loop
        self.future = loop.create_future()

    def hand(self, worker: PoolWorker) -> bool:
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
class Expired(Exception):
    """A deadline passed during a pipe operation."""


def remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise Expired
    return left


class BlockingIO:
    """Blocking socket operations with deadlines; its coroutines never suspend (see ``run_sync``)."""

    def __init__(self, pool: WorkerPool):
        self.pool = pool

    async def acquire(self, wait_until: float) -> PoolWorker | None:
        return self.pool._acquire_blocking(wait_until)

    @staticmethod
    async def readable(sock: socket.socket, deadline: float) -> bool:
        try:
            sock.settimeout(remaining(deadline))
            sock.recv(1, socket.MSG_PEEK)  # b"" at EOF: readable, the read then says EOF
            return True
        except (Expired, TimeoutError):
            return False
        except OSError:
            return True  # the read that follows says what is wrong

    @staticmethod
    async def send(sock: socket.socket, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        try:
            while view:
                sock.settimeout(remaining(deadline))
                view = view[sock.send(view) :]
        except TimeoutError as e:
            raise Expired from e

    @staticmethod
    async def recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        try:
            while got < n:
                sock.settimeout(remaining(deadline))
                k = sock.recv_into(view[got:])
                if k == 0:
                    raise EOFError("the worker closed its pipe")
                got += k
        except TimeoutError as e:
            raise Expired from e
        return bytes(buf)


class LoopIO:
    """The same operations as ``BlockingIO`` on the running event loop: non-blocking socket calls,
    and a wait for readiness (with its deadline as a timer) only when the socket is not ready."""

    def __init__(self, pool: WorkerPool):
        self.pool = pool
        self.loop = asyncio.get_running_loop()

    async def acquire(self, wait_until: float) -> PoolWorker | None:
        return await self.pool._acquire_on_loop(self.loop, wait_until)

    async def _ready(self, sock: socket.socket, deadline: float, write: bool) -> None:
        """Until ``sock`` is readable (or writable), or ``Expired`` at ``deadline``."""
        loop, fd = self.loop, sock.fileno()
        fut = loop.create_future()
        done = lambda: fut.done() or fut.set_result(None)  # noqa: E731
        expire = loop.call_later(remaining(deadline), lambda: fut.done() or fut.set_exception(Expired()))
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
        except Expired:
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


async def recv_frame(io, sock: socket.socket, deadline: float) -> tuple[int, bytes]:
    request_id, n = HEADER.unpack(await io.recv_exact(sock, HEADER.size, deadline))
    return request_id, await io.recv_exact(sock, n, deadline)


# ---- one exchange: is the worker ready, then one request and its reply ------------------------------
async def worker_ready(io, worker: PoolWorker, wait_until: float) -> str | None:
    """None when ready; "busy" when it is still starting at ``wait_until``; else what went wrong."""
    if worker.ready:
        return None
    if time.monotonic() - worker.proc.born > START_TIMEOUT_S:
        worker.clean = False
        return f"worker not ready {START_TIMEOUT_S:g} s after its start"
    if not await io.readable(worker.sock, wait_until):
        return "busy"
    worker.clean = False
    try:
        _, payload = await recv_frame(io, worker.sock, time.monotonic() + READY_READ_S)
        kind, detail = pickle.loads(payload)
    except (EOFError, OSError, Expired, pickle.UnpicklingError) as e:
        return f"worker died while starting: {e!r}"
    if kind != "ready":
        return str(detail)
    worker.ready = worker.clean = True
    return None

async def exchange(io, worker: PoolWorker, request: bytes, budget: float) -> Outcome:
    start = time.monotonic()
    deadline = start + budget
    request_id, worker.next_id = worker.next_id, worker.next_id + 1
    worker.clean = False  # until the whole reply is read: an interruption before that kills it
    try:
        await io.send(worker.sock, HEADER.pack(request_id, len(request)) + request, deadline)
        reply_id, payload = await recv_frame(io, worker.sock, deadline)
    except Expired:
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
