"""Worker processes for the bounded pool (``_worker_pool.py``; its API: ``bounded.py``): how one is
started, what it runs, and the framed socket protocol between it and the pool. Every step that
talks to another process has a deadline: a stopped worker or a stopped forkserver costs a caller
its budget, never a hang.

- Workers fork from a forkserver private to this module and to the process that started it (never
  multiprocessing's global one, never one inherited through ``os.fork``), which has already imported
  sympy/math-verify; a forkserver that stops answering is killed and replaced.
- Each request and reply is one frame, ``(request id, length)`` then a pickle; a reply must carry
  the id of the request it answers.
"""

from __future__ import annotations

import importlib
import io
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import threading
import time
from typing import Any

from ..procs import sigint_ignored

logger = logging.getLogger("wethink_verl.verifiers.bounded")

PRELOAD = ["wethink_verl.verifiers._symbolic"]
# a forkserver's first fork waits for its preload (sympy, math-verify warm-up): 1-10 s on a loaded
# 2-core box; a forkserver that has served once answers a fork in milliseconds
FIRST_SPAWN_TIMEOUT_S = 120.0
SPAWN_TIMEOUT_S = 10.0
HEADER = struct.Struct("!QQ")  # request id, payload length
READY_ID = 0


# ---- frames ---------------------------------------------------------------------------------------
def frame(request_id: int, obj: Any) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(request_id, len(payload)) + payload


def _recv_exact_blocking(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return bytes(buf)


# ---- the worker process ---------------------------------------------------------------------------
def _resolve(target: str, cache: dict):
    fn = cache.get(target)
    if fn is None:
        module, _, attr = target.partition(":")
        fn = getattr(importlib.import_module(module), attr)
        cache[target] = fn
    return fn


def _answer(request: bytes, resolved: dict) -> tuple[str, Any]:
    try:
        target, args, kwargs = pickle.loads(request)
        return "ok", _resolve(target, resolved)(*args, **kwargs)
    except MemoryError:
        return "memory", "memory limit exceeded"
    except BaseException as e:  # noqa: BLE001 - report anything, including math-verify's BaseException timeouts
        return "error", f"{type(e).__name__}: {str(e)[:300]}"


def worker_main(sock: socket.socket, memory_limit_mb: int | None) -> None:
    """Runs in the worker process: one request at a time, until the pool closes its end."""
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
        for module in PRELOAD:
            importlib.import_module(module)
        sock.sendall(frame(READY_ID, ("ready", os.getpid())))
    except BaseException as e:  # noqa: BLE001
        sock.sendall(frame(READY_ID, ("error", f"worker start failed: {type(e).__name__}: {e}")))
        return
    while True:
        try:
            head = _recv_exact_blocking(sock, HEADER.size)
            if head is None:
                return
            request_id, n = HEADER.unpack(head)
            request = _recv_exact_blocking(sock, n)
            if request is None:
                return
        except (OSError, KeyboardInterrupt):
            return
        status, value = _answer(request, resolved)
        try:
            reply = frame(request_id, (status, value))
        except Exception as e:  # noqa: BLE001 - an unpicklable result
            reply = frame(request_id, ("error", f"result cannot be sent back: {type(e).__name__}: {str(e)[:200]}"))
        try:
            sock.sendall(reply)
        except OSError:
            return


# ---- a private forkserver, with deadlines on every launch -----------------------------------------
try:  # forkserver needs fd passing (POSIX)
    from multiprocessing import forkserver as _mp_forkserver
    from multiprocessing import popen_forkserver as _popen_forkserver
    from multiprocessing import process as _mp_process
    from multiprocessing import spawn as _mp_spawn
    from multiprocessing import util as _mp_util
    from multiprocessing.context import ForkServerProcess as _ForkServerProcess
    from multiprocessing.context import reduction as _reduction
    from multiprocessing.context import set_spawning_popen as _set_spawning_popen
except ImportError:  # pragma: no cover
    _ForkServerProcess = None

_launching = threading.local()  # (forkserver, deadline) of the launch running on this thread


def _wait_fd(fd: int, writable: bool, deadline: float, what: str) -> None:
    import select

    poller = select.poll()
    poller.register(fd, select.POLLOUT if writable else select.POLLIN)
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not poller.poll(max(1, int(remaining * 1000))):
        raise TimeoutError(f"the forkserver did not {what} in time")


def _write_all(fd: int, data: memoryview, deadline: float) -> None:
    os.set_blocking(fd, False)
    while data:
        _wait_fd(fd, True, deadline, "take the new process's data")
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            continue


if _ForkServerProcess is not None:

    class _BoundedPopen(_popen_forkserver.Popen):
        """``popen_forkserver.Popen`` through our private forkserver, with a deadline, and whose
        child never imports the caller's ``__main__``.

        multiprocessing's spawn and forkserver children re-import the parent's main module (as
        ``__mp_main__``) before running the target. For a script without an ``if __name__ ==
        "__main__"`` guard that re-runs the script in every worker, which then tries to start its
        own pool and dies ("An attempt has been made to start a new process before the current
        process has finished its bootstrapping phase"): every bounded call came back "crashed".
        Workers need nothing from ``__main__`` (the target is ``worker_main``, arguments are plain
        data), so the main-module entries are dropped from the preparation data. The stock launch
        also blocks for as long as the forkserver takes to answer (forever when it is stopped).
        """

        # the body of popen_forkserver.Popen._launch (CPython 3.10-3.13), minus the main module,
        # against our forkserver, with deadlines on the data write and the pid read
        def _launch(self, process_obj):
            server, deadline = _launching.server, _launching.deadline
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
            self.sentinel, w = server.connect_to_new_process(self._fds)
            _parent_w = os.dup(w)
            self.finalizer = _mp_util.Finalize(self, _mp_util.close_fds, (_parent_w, self.sentinel))
            try:
                _write_all(w, buf.getbuffer(), deadline)
            finally:
                os.close(w)
            _wait_fd(self.sentinel, False, deadline, "fork the new process")
            self.pid = _mp_forkserver.read_signed(self.sentinel)

    class _BoundedForkServerProcess(_ForkServerProcess):
        @staticmethod
        def _Popen(process_obj):
            return _BoundedPopen(process_obj)


class _Server:
    """This process's forkserver (a new one after ``os.fork`` or after one stopped answering)."""

    def __init__(self):
        self.server = _mp_forkserver.ForkServer()
        # deaf to SIGINT first (see _deaf_to_sigint), then the heavy imports; never the caller's __main__
        self.server.set_forkserver_preload(["wethink_verl._deaf_to_sigint", *PRELOAD])
        self.pid = os.getpid()
        self.spawned = 0

    def stop(self) -> None:
        """Kill it (it is our own child) and forget it; its workers live on until discarded."""
        fs = self.server
        with fs._lock:
            pid, fs._forkserver_pid = fs._forkserver_pid, None
            if pid is not None and self.pid == os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
            for fd in (fs._forkserver_alive_fd,):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            fs._forkserver_alive_fd = None
            address, fs._forkserver_address = fs._forkserver_address, None
            if address and not _mp_util.is_abstract_socket_namespace(address):
                try:
                    os.unlink(address)
                except OSError:
                    pass

    def forget_after_fork(self) -> None:
        """In a forked child: drop our copy of the parent's forkserver "alive" pipe, nothing else."""
        fd = self.server._forkserver_alive_fd
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


_server: _Server | None = None
_server_lock = threading.Lock()


def current_server() -> _Server:
    global _server
    with _server_lock:
        if _server is None or _server.pid != os.getpid():
            _server = _Server()
        return _server


def replace_server(failed: _Server) -> None:
    """A forkserver that did not answer in time is killed; the next launch starts a new one."""
    global _server
    with _server_lock:
        if _server is failed:
            _server = None
    failed.stop()


def after_fork_in_child() -> None:
    global _server, _server_lock
    _server_lock = threading.Lock()
    if _server is not None:
        _server.forget_after_fork()
    _server = None


def start_method() -> str:
    method = os.environ.get("WETHINK_MP_START") or "forkserver"
    if method == "forkserver" and (_ForkServerProcess is None or "forkserver" not in multiprocessing.get_all_start_methods()):
        method = "spawn"
    return method


class WorkerProcess:
    """One worker: its process and the pool's end of its socket."""

    def __init__(self, memory_limit_mb: int | None):
        self.owner = os.getpid()
        self.server: _Server | None = None
        parent, child = socket.socketpair()
        try:
            method = start_method()
            if method == "forkserver":
                self.server = current_server()
                deadline = time.monotonic() + (SPAWN_TIMEOUT_S if self.server.spawned else FIRST_SPAWN_TIMEOUT_S)
                self.proc = _BoundedForkServerProcess(target=worker_main, args=(child, memory_limit_mb), daemon=True, name="wethink-verifier")
                _launching.server, _launching.deadline = self.server.server, deadline
                try:
                    self.proc.start()
                finally:
                    _launching.server = _launching.deadline = None
                self.server.spawned += 1
            else:
                ctx = multiprocessing.get_context(method)
                self.proc = ctx.Process(target=worker_main, args=(child, memory_limit_mb), daemon=True, name="wethink-verifier")
                with sigint_ignored():
                    self.proc.start()
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.sock = parent
        self.pid = self.proc.pid
        self.born = time.monotonic()

    def kill(self) -> None:
        """SIGKILL now (only a worker this process started); reaping is ``reap``'s."""
        if self.owner != os.getpid():
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def reap(self, timeout: float = 1.0) -> None:
        """Collect a killed worker's exit status; one its forkserver does not report in time is left
        to it (and dropped from multiprocessing's children, whose exit handler would wait forever)."""
        if self.owner != os.getpid():
            return
        try:
            self.proc.join(timeout)
            if self.proc.exitcode is not None:
                self.proc.close()
                return
        except (ValueError, AssertionError, OSError):
            pass
        _mp_process._children.discard(self.proc)

    def alive(self) -> bool:
        try:
            return self.owner == os.getpid() and self.proc.is_alive()
        except (ValueError, AssertionError):
            return False

    def forget_after_fork(self) -> None:
        """In a forked child: never signal or reap this worker (it is the parent's), drop our fd copy."""
        _mp_process._children.discard(self.proc)
        try:
            self.sock.close()
        except OSError:
            pass
