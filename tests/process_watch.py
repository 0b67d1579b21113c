"""Which processes a test left behind (conftest.py's ``no_leftover_processes`` fixture).

Every process the test session starts inherits ``WETHINK_TEST_SESSION`` (set in conftest.py): a fork
of the pytest process (verl's router, a ``datasets`` pool), Ray's workers (raylet's children), a
killed actor's orphaned children (reparented to init, no longer our descendants), the vLLM server.
A process carrying our marker that did not exist before the test (or module) and is still alive
after it is a leftover, except what lives as long as its owner by design: the session fixtures'
processes (the Ray cluster, the vLLM server: ``own_for_session``), Ray's idle worker pool
(``ray::IDLE``) and multiprocessing's forkserver of this process once it has no child (the bounded
verifier pool's; stdlib keeps it for the process's lifetime).

``forks_of_this_process`` lists every fork of the pytest process with the stack that made it (a
child forked after torch's OpenMP pool ran here hangs in its first parallel torch op).
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback

import psutil

MARKER = "WETHINK_TEST_SESSION"
_session_pids: set[int] = set()
_session_groups: set[int] = set()
_forks: list[str] = []

# every fork of this process (os.fork, multiprocessing's "fork" start: a `datasets` pool, verl's
# router) with the stack that asked for it; a subprocess or the forkserver starts by exec instead
os.register_at_fork(before=lambda: _forks.append("".join(traceback.format_stack(limit=24)[:-1])))


def forks_of_this_process() -> list[str]:
    """The stacks of this process's forks so far (a child forked after torch's OpenMP pool ran
    here hangs at its first parallel torch op)."""
    return list(_forks)


def own_for_session(pids=(), group: int | None = None) -> None:
    """Processes a session fixture owns (and ends at session end): never a test's leftover."""
    _session_pids.update(pids)
    if group is not None:
        _session_groups.add(group)


def ray_system_processes(before: dict[int, str]) -> set[int]:
    """The processes ``ray.init`` started since ``before`` minus its worker pool (a pooled worker
    becomes an actor's process later: that one is a test's to end)."""
    return {pid for pid, cmd in marked().items() if pid not in before and not cmd.startswith("ray::IDLE") and "default_worker.py" not in cmd}


def marked() -> dict[int, str]:
    """pid -> command line of every live process carrying this session's marker (self excluded)."""
    token, me, out = os.environ.get(MARKER), os.getpid(), {}
    for p in psutil.process_iter(["pid", "cmdline"]):
        if p.pid == me:
            continue
        try:
            if p.environ().get(MARKER) == token and p.status() != psutil.STATUS_ZOMBIE:
                out[p.pid] = " ".join(p.info["cmdline"] or [])[:200]
        except (psutil.Error, OSError):
            continue
    return out


def _by_design(pid: int, cmdline: str) -> bool:
    if cmdline.startswith("ray::IDLE") or pid in _session_pids:
        return True
    try:
        if os.getpgid(pid) in _session_groups:
            return True
    except OSError:
        return True  # gone
    forkserver = getattr(getattr(multiprocessing.forkserver, "_forkserver", None), "_forkserver_pid", None)
    if pid == forkserver:
        try:
            return not psutil.Process(pid).children()
        except psutil.Error:
            return True
    return False


def leftovers(before: dict[int, str], timeout_s: float = 90.0) -> dict[int, str]:
    """The processes started since ``before`` still alive after ``timeout_s`` (a loaded box ends
    killed actors slowly)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = {pid: cmd for pid, cmd in marked().items() if pid not in before and not _by_design(pid, cmd)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(1.0)
