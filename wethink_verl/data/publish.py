"""Publishing ``prepare``'s outputs as one set: a reader sees the previous set or the new one,
never a mix, whenever the run dies.

Layout of an output directory (other files in it are never touched)::

    OUT/.wethink-prepare-current -> .wethink-prepare-<pid>-<rand>.set   # the published set
    OUT/.wethink-prepare-<pid>-<rand>.set/{train.parquet, val.parquet, prepare_summary.json, …}
    OUT/train.parquet -> .wethink-prepare-current/train.parquet           # stable names
    OUT/val.parquet   -> .wethink-prepare-current/val.parquet

A run writes into ``.wethink-prepare-<pid>-<rand>.tmp``, renames it to ``….set``, and publishes it
by replacing the one ``.wethink-prepare-current`` link (``rename(2)`` is atomic): every stable
name switches at that instant. A name the new set lacks (no ``val`` this time) then points at
nothing, as it should; it is removed afterwards. Leftovers of a killed run (its ``.tmp`` or
unpublished ``.set`` directory, a temporary link) are removed by the next run once their pid is
gone. On a filesystem without symbolic links the files are renamed into place one by one
(the old behaviour, with a warning in the summary).
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import threading
from contextlib import contextmanager

PREFIX = ".wethink-prepare-"
CURRENT = PREFIX + "current"
STAGING_SUFFIX, SET_SUFFIX, LINK_SUFFIX = ".tmp", ".set", ".link"
_NO_SYMLINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def new_staging(out_dir: str) -> str:
    path = os.path.join(out_dir, f"{PREFIX}{os.getpid()}-{random.getrandbits(32):08x}{STAGING_SUFFIX}")
    os.makedirs(path)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _current_target(out_dir: str) -> str | None:
    try:
        return os.readlink(os.path.join(out_dir, CURRENT))
    except OSError:
        return None


def remove_leftovers(out_dir: str) -> None:
    """Staging directories, unpublished sets and temporary links of runs that are no longer alive."""
    current = _current_target(out_dir)
    for name in os.listdir(out_dir):
        if not name.startswith(PREFIX) or name in (CURRENT, current):
            continue
        stem, dot, suffix = name[len(PREFIX) :].rpartition(".")
        pid = stem.split("-")[0]
        if not dot or "." + suffix not in (STAGING_SUFFIX, SET_SUFFIX, LINK_SUFFIX) or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        path = os.path.join(out_dir, name)
        if os.path.islink(path) or not os.path.isdir(path):
            os.remove(path)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _is_our_link(path: str, name: str) -> bool:
    try:
        return os.readlink(path) == f"{CURRENT}/{name}"
    except OSError:
        return False


def existing_outputs(out_dir: str, names) -> list[str]:
    """The names a run would replace: present files, and links of ours that lead somewhere."""
    found = []
    for name in names:
        path = os.path.join(out_dir, name)
        if os.path.exists(path) or (os.path.lexists(path) and not _is_our_link(path, name)):
            found.append(name)
    return found


def _link(out_dir: str, target: str, name: str) -> None:
    """``OUT/name`` -> ``target``, replacing whatever was there in one rename."""
    tmp = os.path.join(out_dir, f"{PREFIX}{os.getpid()}-{random.getrandbits(32):08x}{LINK_SUFFIX}")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, os.path.join(out_dir, name))
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise


@contextmanager
def _signals_deferred():
    """SIGINT/SIGTERM held back while a few renames run (main thread only): the set is then
    published whole, and the run ends normally — its outputs exist."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: caught.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def publish(out_dir: str, staging: str, names: list[str], stale_names: list[str]) -> str | None:
    """Make ``staging``'s ``names`` the visible outputs of ``out_dir`` at once; ``stale_names``
    (outputs of an earlier run this one does not write) go away. Returns a warning or None.
    On any failure before the switch the previous set stays visible and ``staging`` is removed."""
    set_dir = staging[: -len(STAGING_SUFFIX)] + SET_SUFFIX
    with _signals_deferred():
        try:
            os.rename(staging, set_dir)
            previous = _current_target(out_dir)
            for name in names:  # new names point at nothing until the switch: the old set lacks them
                if not os.path.lexists(os.path.join(out_dir, name)):
                    _link(out_dir, f"{CURRENT}/{name}", name)
            _link(out_dir, os.path.basename(set_dir), CURRENT)  # the switch
        except OSError as e:
            if e.errno not in _NO_SYMLINKS:
                shutil.rmtree(set_dir if os.path.isdir(set_dir) else staging, ignore_errors=True)
                raise
            return _publish_file_by_file(out_dir, set_dir, names, stale_names)
        except BaseException:
            if _current_target(out_dir) != os.path.basename(set_dir):
                shutil.rmtree(set_dir if os.path.isdir(set_dir) else staging, ignore_errors=True)
            raise
        # published; what follows only tidies up
        for name in names:  # files of an older layout, or a user's file replaced with --force
            path = os.path.join(out_dir, name)
            if not _is_our_link(path, name):
                _link(out_dir, f"{CURRENT}/{name}", name)
        for name in stale_names:
            if os.path.lexists(os.path.join(out_dir, name)):
                os.remove(os.path.join(out_dir, name))
        if previous and previous != os.path.basename(set_dir) and previous.startswith(PREFIX):
            shutil.rmtree(os.path.join(out_dir, previous), ignore_errors=True)
    return None


def _publish_file_by_file(out_dir: str, set_dir: str, names: list[str], stale_names: list[str]) -> str:
    for name in stale_names:
        if os.path.lexists(os.path.join(out_dir, name)):
            os.remove(os.path.join(out_dir, name))
    for name in names:
        os.replace(os.path.join(set_dir, name), os.path.join(out_dir, name))
    shutil.rmtree(set_dir, ignore_errors=True)
    return f"{out_dir} has no symbolic links: the outputs were renamed into place one by one, not as one set"
