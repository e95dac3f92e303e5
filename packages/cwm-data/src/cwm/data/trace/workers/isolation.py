"""What a task process may not do, and how it is stopped when it tries.

- limits: address space, CPU time, file size (rlimits), a wall-clock alarm;
- a private temporary working directory (also HOME and TMPDIR);
- no network: the worker enters its own network namespace when the kernel
  allows it (`cwm.core.isolation`), and an audit hook refuses sockets in any case;
- no child processes, signals to other processes or rlimit changes (audit hook);
- printed output is counted, not kept; past the limit the task is stopped.

On their own these guard against accidents in ordinary code (an infinite loop,
a crash, a runaway allocation, an output flood), not against code written to
escape: a path has many spellings. Against that, the worker runs in bubblewrap
(`cwm.data.trace.workers.bwrap`) and these are the second layer, and what
fills ``meta.touched``.
"""

from __future__ import annotations

import io
import os
import resource
from collections.abc import Callable
from typing import Any

from cwm.data.trace.config import TraceConfig

_NET_EVENTS = frozenset(
    [
        "socket.__new__",
        "socket.bind",
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyaddr",
        "socket.gethostbyname",
        "socket.gethostname",
        "socket.getnameinfo",
        "socket.getservbyname",
        "socket.getservbyport",
        "socket.sendmsg",
        "socket.sendto",
        "socket.sethostname",
    ]
)
_PROC_EVENTS = frozenset(
    [
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.kill",
        "os.killpg",
        "os.startfile",
        "pty.spawn",
        "resource.setrlimit",
        "resource.prlimit",
    ]
)
#: event: where its paths are among the arguments, as (path index, dir_fd index or None)
_FS_WRITE_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "os.remove": ((0, 1),),
    "os.rename": ((0, 2), (1, 3)),  # also os.replace
    "os.rmdir": ((0, 1),),
    "os.mkdir": ((0, 2),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.truncate": ((0, None),),
    "os.utime": ((0, 3),),
    "os.link": ((0, 2), (1, 3)),  # a hard link to an outside file writes through to it
    "os.symlink": ((1, 2),),
    "shutil.rmtree": ((0, 1),),
    "shutil.move": ((0, None), (1, None)),
    "shutil.copyfile": ((1, None),),
    "shutil.copytree": ((1, None),),
    "sqlite3.connect": ((0, None),),
}
_IN_MEMORY = ("", ":memory:")  # sqlite3 databases that are no file
_FS_READ_EVENTS = frozenset(["os.listdir", "os.scandir", "glob.glob", "os.walk", "os.chdir"])
#: process-wide state a later task in the same process would see
_STATE_EVENTS = frozenset(["os.putenv", "os.unsetenv"])
#: calls into C libraries, where no audit hook sees what happens (raw syscalls)
_NATIVE_EVENTS = frozenset(["ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle"])
_CODE_SUFFIXES = (".py", ".pyc", ".so", ".pth")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def limit_resources(config: TraceConfig) -> None:
    """Address space and file size; CPU time is set per task (RLIMIT_CPU counts per process)."""
    try:  # plain descriptors: a fresh task process does this, and file objects cost more
        fd = os.open("/proc/self/statm", os.O_RDONLY)
        try:
            pages = int(os.read(fd, 200).split()[0])
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        pages = 0
    if config.memory_mb > 0 and pages:
        cap = pages * os.sysconf("SC_PAGE_SIZE") + (config.memory_mb << 20)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_FSIZE, (config.max_file_bytes, config.max_file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _path(value: Any, dir_fd: Any = None) -> str | None:
    if isinstance(value, int):
        return None  # an already open descriptor
    try:
        path = os.fsdecode(value)
    except TypeError:
        return None
    if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(path):
        try:  # relative to a directory descriptor, which may be anywhere
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
        except OSError:
            return "/"  # an unknown place: treated as outside
    return os.path.realpath(path)


class Guard:
    """An audit hook: refuses network, processes and writes outside the working directory.

    ``touched`` names what the task reached for: ``fs`` (files outside the interpreter's
    own code), ``net``, ``proc``, ``state`` (environment variables), ``native``
    (C functions through ctypes); dataset builders drop such traces, and a shared
    task process is replaced after one. Paths have many spellings (descriptors,
    ctypes), so this is the second layer: bubblewrap is the first.
    """

    def __init__(self, workdir: str, network: bool):
        self.workdir = os.path.realpath(workdir) + os.sep
        self.network = network
        self.touched: set[str] = set()
        #: the task may have changed what later tasks in this process see: it tried to
        #: write, changed directory, set state or called C; other reads and refused calls
        #: leave it False
        self.changed = False
        self.paused = False  # while the task process itself changes its limits
        self.watched = (
            _PROC_EVENTS
            | _FS_WRITE_EVENTS.keys()
            | _FS_READ_EVENTS
            | _STATE_EVENTS
            | _NATIVE_EVENTS
            | {"open"}
        )
        if not network:
            self.watched |= _NET_EVENTS

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in self.watched or self.paused:
            return
        if event == "open":
            self._open(args)
        elif event in _FS_WRITE_EVENTS:
            self._write(event, args)
        elif event in _FS_READ_EVENTS:
            self.touched.add("fs")
            self.changed |= event == "os.chdir"  # where later relative paths lead
        elif event in _STATE_EVENTS:
            self.touched.add("state")
            self.changed = True
        elif event in _NATIVE_EVENTS:
            self.touched.add("native")
            self.changed = True
        elif event in _NET_EVENTS:
            self.touched.add("net")
            raise PermissionError(f"{event}: network access is blocked in traced code")
        else:
            self.touched.add("proc")
            raise PermissionError(f"{event}: traced code may not start or signal processes")

    def _open(self, args: tuple[Any, ...]) -> None:
        path = _path(args[0]) if args else None
        if path is None:
            return
        mode, flags = (args[1] if len(args) > 1 else None) or "r", args[2] if len(args) > 2 else 0
        writing = any(c in str(mode) for c in "wax+") or bool((flags or 0) & _WRITE_FLAGS)
        if writing:
            self.touched.add("fs")
            self.changed = True
            self._inside(path, "open")
        elif not path.endswith(_CODE_SUFFIXES) and not path.startswith(self.workdir):
            self.touched.add("fs")

    def _write(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "sqlite3.connect" and args:
            if args[0] in _IN_MEMORY:
                return
            if isinstance(args[0], str) and args[0].startswith("file:"):  # a URI
                args = (args[0][5:].split("?")[0],)
        self.touched.add("fs")
        self.changed = True
        for index, fd_index in _FS_WRITE_EVENTS[event]:
            if index < len(args):
                dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
                self._inside(args[index], event, dir_fd)

    def _inside(self, value: Any, event: str, dir_fd: Any = None) -> None:
        path = _path(value, dir_fd)
        if path is not None and not (path + os.sep).startswith(self.workdir):
            raise PermissionError(f"{event}: traced code may only write in its working directory")


class BoundedOutput(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: counts what is printed and calls ``on_flood`` past ``limit``."""

    def __init__(self, limit: int, on_flood: Callable[[str], Any], counter: list[int]):
        self.limit, self.on_flood, self.counter = limit, on_flood, counter

    @property
    def buffer(self) -> BoundedOutput:  # code that writes bytes to sys.stdout.buffer
        return self

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        n = len(data)
        self.counter[0] += n
        if self.counter[0] > self.limit:
            self.on_flood(f"max_output_bytes: the traced code printed more than {self.limit} bytes")
        return n
