"""Child processes that behave: born deaf to a terminal's Ctrl-C, gone when their parent dies.

A terminal's Ctrl-C sends SIGINT to the whole foreground process group: worker processes get it
too, die mid-task (possibly holding a queue lock the parent then waits on forever) or print
KeyboardInterrupt tracebacks. The parent alone should decide, so workers start with SIGINT
ignored — from birth, since an ignored disposition survives fork and exec, while a handler set
in the child's code comes too late for one still importing. And a parent killed by SIGKILL
cannot clean up: each worker asks the kernel for SIGKILL when its parent dies (Linux
``PR_SET_PDEATHSIG``) and also watches its parent's pid (other systems, and the race where the
parent dies before the request is made).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

PR_SET_PDEATHSIG = 1


@contextmanager
def sigint_ignored():
    """SIGINT ignored in this process for the block, so children started in it are born deaf to
    it. Only the main thread may change a disposition (and a blocked mask does not survive the
    spawn): elsewhere this does nothing, and the child must ignore SIGINT itself as it starts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_deaf_to_sigint(proc: multiprocessing.process.BaseProcess) -> None:
    """``proc.start()`` with the child born ignoring SIGINT. For a forkserver context the server
    (and the resource tracker) is launched under the ignored disposition, not the whole start,
    which waits for the server's preload: Ctrl-C keeps working in the parent meanwhile."""
    if getattr(proc, "_start_method", None) == "forkserver":
        from multiprocessing import forkserver

        with sigint_ignored():
            forkserver.ensure_running()
        proc.start()
        return
    with sigint_ignored():
        proc.start()


def die_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Call first thing in a worker: exit as soon as ``parent_pid`` is no longer our parent."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="wethink-parent-watch", daemon=True).start()
