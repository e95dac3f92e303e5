"""Nothing a task started outlives it: the worker adopts and kills orphans, and empties its directory.

A task process may start processes behind the audit hook's back (ctypes ``fork``),
put them in a new session and double-fork so that no process group reaches them.
As a child subreaper the worker becomes the parent of every such orphan, so after
a task process ends its children are exactly what the task left running.

Nor does a killed pool's directory outlive it: a pool names its workers' directories
after its own pid (`base_prefix`), and the next pool removes those of pids that are gone
(`remove_stale_bases`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import tempfile
from collections.abc import Collection

_PR_SET_CHILD_SUBREAPER = 36
_ROUNDS = 100  # a killed process may have forked once more before it died


def become_subreaper() -> bool:
    """Orphaned descendants of this process become its children (False if the kernel refuses)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children() -> list[int]:
    """This process's live children."""
    me = os.getpid()
    try:
        tids = os.listdir(f"/proc/{me}/task")
        kids: list[int] = []
        for tid in tids:
            with open(f"/proc/{me}/task/{tid}/children") as f:
                kids += [int(pid) for pid in f.read().split()]
        return kids
    except FileNotFoundError:  # a kernel without /proc/PID/task/TID/children: scan
        return [pid for pid in _pids() if _parent(pid) == me]


def kill_orphans(keep: Collection[int] = ()) -> int:
    """SIGKILL and reap every child but those in ``keep`` (live task processes); how many."""
    killed = 0
    for _ in range(_ROUNDS):
        kids = [pid for pid in children() if pid not in keep]
        if not kids:
            break
        for pid in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in kids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        killed += len(kids)
    return killed


def base_prefix(pid: int | None = None) -> str:
    """The name prefix of the worker directories a pool in process ``pid`` makes."""
    return f"cwm-trace-{os.getpid() if pid is None else pid}-"


def remove_stale_bases(root: str | None = None) -> int:
    """Remove the worker directories of pools whose process is gone (killed, so never
    cleaned up); how many. A live pool's directories are left alone."""
    root = root or tempfile.gettempdir()
    removed = 0
    with contextlib.suppress(OSError), os.scandir(root) as entries:
        for entry in entries:
            pid = entry.name.removeprefix("cwm-trace-").split("-", 1)[0]
            stale = entry.name.startswith("cwm-trace-") and pid.isdigit() and not _alive(int(pid))
            if stale and entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def empty_directory(path: str, keep: Collection[str] = (), empty: str | None = None) -> bool:
    """Remove everything inside ``path`` (the worker's private /tmp) but the names in ``keep``.

    The kept entry named ``empty`` (the task working directory) is emptied instead:
    recreating a directory per task costs more than emptying it. True if it could
    not be emptied and was made anew.
    """
    renewed = False
    with contextlib.suppress(FileNotFoundError), os.scandir(path) as entries:
        for entry in entries:
            if entry.name == empty and entry.is_dir(follow_symlinks=False):
                renewed = _empty_or_renew(entry.path)
            elif entry.name in keep or _mounted(entry.path):  # an import path under /tmp
                continue
            elif entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    return renewed


def _mounted(path: str) -> bool:
    """A mount point, bind mounts from the same filesystem included: `os.path.ismount`
    misses those, but the sandbox binds every import path read-only, and a task can
    mount nothing (without this, each task walked a project checked out under /tmp)."""
    try:
        return os.path.ismount(path) or bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def remove_tree(path: str) -> None:
    """Remove a directory tree, also where a task took away its own permissions (mode 000)."""
    for root, dirs, _ in os.walk(path):  # top-down: each directory opened before descending
        for name in dirs:
            inner = os.path.join(root, name)
            if not os.path.islink(inner):  # never change what a link points to
                with contextlib.suppress(OSError):
                    os.chmod(inner, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def _empty_or_renew(path: str) -> bool:
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)  # a task may have locked its own directory
    empty_directory(path)
    with contextlib.suppress(OSError):
        if not os.listdir(path):
            return False
    remove_tree(path)  # what could not be emptied goes with it
    os.makedirs(path, exist_ok=True)
    return True


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1
