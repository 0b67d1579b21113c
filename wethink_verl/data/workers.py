"""An ordered process pool for ``prepare``'s image checks that can always be stopped.

``ProcessPoolExecutor`` shares one call queue between its workers: a worker killed by a terminal's
Ctrl-C while holding the queue's lock leaves ``shutdown`` waiting forever, and a parent killed
with SIGKILL leaves its workers running. Here every worker has its own pipe (nothing shared to
hold), is born ignoring SIGINT and dies with its parent (``wethink_verl.procs``); batches go round
robin, so results come back in input order; ``close`` ends every worker within a bound.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from ..procs import die_with_parent, start_deaf_to_sigint

STOP_GRACE_S = 2.0  # how long a worker gets to exit on its own before it is killed


class WorkerDied(RuntimeError):
    pass


def _worker_main(conn, parent_pid: int, initializer: Callable, initargs: tuple, fn: Callable) -> None:
    die_with_parent(parent_pid)
    initializer(*initargs)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if task is None:
            return
        try:
            result = ("ok", fn(task))
        except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it
            result = ("error", f"{type(e).__name__}: {e}")
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


class OrderedPool:
    """``workers`` spawned processes running ``fn`` over batches, results in submission order."""

    def __init__(self, workers: int, fn: Callable, initializer: Callable, initargs: tuple = (), in_flight: int = 2):
        ctx = multiprocessing.get_context("spawn")  # not fork: safe after torch or threads ran
        self.in_flight = in_flight
        self._procs, self._conns = [], []
        try:
            for _ in range(workers):
                parent_end, child_end = ctx.Pipe(duplex=True)
                proc = ctx.Process(target=_worker_main, args=(child_end, os.getpid(), initializer, initargs, fn),
                                   daemon=True, name="wethink-prepare-worker")  # fmt: skip
                start_deaf_to_sigint(proc)
                child_end.close()
                self._procs.append(proc)
                self._conns.append(parent_end)
        except BaseException:
            self.close()
            raise

    def map(self, batches: Iterable[Any]) -> Iterator[Any]:
        pending: deque[int] = deque()  # worker index per submitted batch, oldest first
        n = len(self._procs)
        for i, batch in enumerate(batches):
            self._conns[i % n].send(batch)
            pending.append(i % n)
            while len(pending) >= self.in_flight * n:
                yield self._result(pending.popleft())
        while pending:
            yield self._result(pending.popleft())

    def _result(self, k: int) -> Any:
        try:
            kind, value = self._conns[k].recv()
        except (EOFError, OSError):
            proc = self._procs[k]
            proc.join(0.5)
            raise WorkerDied(f"image-check worker {proc.pid} died (exit code {proc.exitcode})") from None
        if kind == "error":
            raise WorkerDied(f"image-check worker failed: {value}")
        return value

    def close(self, graceful: bool = False) -> None:
        """Every worker gone within a bound. ``graceful`` (every result was read, the pipes are
        empty): asked to stop, killed after STOP_GRACE_S. Otherwise (an error, Ctrl-C, maybe in
        the middle of a send): killed at once; they hold nothing worth finishing."""
        if graceful:
            for conn in self._conns:
                try:
                    conn.send(None)
                except (OSError, ValueError):
                    pass
            for proc in self._procs:
                proc.join(STOP_GRACE_S / max(1, len(self._procs)))
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
        for proc in self._procs:
            proc.join(5.0)
        for conn in self._conns:
            conn.close()
        self._procs, self._conns = [], []
