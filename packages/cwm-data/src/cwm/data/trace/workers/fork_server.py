"""A fork server for one group of tasks: it imports what they import, then forks a process per task.

The trace worker (`cwm.data.trace.workers.worker`) forks one from itself for each
run of tasks from one source module. It imports the stdlib modules the tasks'
sources import and compiles the sources (once, so task processes inherit them),
then hands each task to a task process forked from itself: that process applies
the limits of `cwm.data.trace.workers.isolation`, runs the task and writes its
Trace back (`cwm.data.trace.workers.task_process`). A task process that dies, or
hangs past the wall limit and is killed, becomes a ``crashed`` Trace here. A task
process serves ``tasks_per_process`` tasks (1 by default: each task starts from
this server's pristine state) and is replaced after any limit, crash or side
effect; with 1, the next task's process is forked while a task runs (a spare).
The server is a child subreaper: whatever a task process started (even in a new
session, even through ctypes) is re-parented to it and killed when the task
process ends, and the directory it wrote in is emptied.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import os
import re
import select
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from cwm.data.trace.backends import get_backend
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.runner import invalid_trace
from cwm.data.trace.task import TraceTask
from cwm.data.trace.workers.code_cache import CodeCache
from cwm.data.trace.workers.forking import fork_child
from cwm.data.trace.workers.orphans import become_subreaper, empty_directory, kill_orphans
from cwm.data.trace.workers.protocol import (
    HEADER,
    LAST_TRACE,
    PASS,
    TASK,
    TRACE,
    frame,
    read_frame,
    take_frame,
    write_all,
)
from cwm.data.trace.workers.task_process import TaskProcess

_NEVER_PRELOAD = frozenset({"antigravity", "this", "tkinter", "turtle", "turtledemo", "idlelib"})
_IMPORT = re.compile(r"^(?:import|from)\s+([A-Za-z_][\w.]*)", re.MULTILINE)
WORKDIR = "task"  # the task processes' working directory, inside the worker's base
_GRACE_SECONDS = 3.0  # after the wall and CPU limits, before the worker kills a task


@dataclass
class _Process:
    """A forked task process, seen from the worker."""

    pid: int
    task_fd: int  # worker -> process
    result_fd: int  # process -> worker
    stderr: str  # where its fd 2 goes (outside the working directory)
    served: int = 0
    buf: bytearray = field(default_factory=bytearray)


class ForkServer:
    """Forks the task processes of one group of tasks (in a process the worker forked for it)."""

    def __init__(self, config: TraceConfig, base: str, isolation: str, isolated_network: bool):
        self.config, self.isolation = config, isolation
        self.isolated_network = isolated_network
        self.backend = get_backend(config.backend).name
        become_subreaper()  # not inherited through a fork
        self.base = base  # task processes' directories (the worker removes it)
        self.workdir = os.path.join(self.base, WORKDIR)  # emptied after each task process
        os.makedirs(self.workdir, exist_ok=True)
        os.chdir(self.workdir)
        self.imported: set[str] = set()
        self.codes = CodeCache()
        self.spawned = 0
        self.process: _Process | None = None
        #: forked ahead while a task runs, so the next task need not wait for a fork
        self.spare: _Process | None = None
        #: runs calls untraced to screen tasks out (`TraceConfig.screen`); serves many tasks
        self.screener: _Process | None = None
        #: done, to be retired once its trace is sent (and before the next task starts)
        self.finished: _Process | None = None
        self.protocol_fds: tuple[int, ...] = ()  # task processes close these
        self.encode = msgspec.msgpack.Encoder().encode

    def serve(self, inp: int, out: int) -> None:
        """Answer each task frame read from ``inp`` with a Trace frame on ``out``, until end of file."""
        decode = msgspec.msgpack.Decoder(TraceTask).decode
        buf = bytearray()
        try:
            while (found := read_frame(inp, buf)) is not None:
                write_all(out, frame(TRACE, self.run(decode(found[1]))))
                self._retire_finished()  # while the trace travels on
        finally:
            self.close()

    def close(self) -> None:
        self._retire_finished()
        while (proc := self.process or self.spare or self.screener) is not None:
            self._retire(proc)

    def _retire_finished(self) -> None:
        if self.finished is not None:
            proc, self.finished = self.finished, None
            self._retire(proc)

    def _live(self) -> list[_Process]:
        return [p for p in (self.process, self.spare, self.screener) if p is not None]

    def run(self, task: TraceTask) -> bytes:
        """Trace one task in a task process; the encoded Trace."""
        self._retire_finished()
        # for this task's process if none is ready, else for later ones (tasks of one
        # function come together): imports and compiled code are inherited at the fork
        preload(task_imports(task), self.imported)
        self.codes.warm(task)
        if self.config.screen and (screened := self._screen(task)) is not None:
            return screened
        if self.process is None:
            self.process, self.spare = self.spare or self._spawn(), None
        proc = self.process
        with contextlib.suppress(BrokenPipeError):  # it died since its last task: _collect says how
            write_all(proc.task_fd, frame(TASK, self.encode(task)))
        if self.config.tasks_per_process == 1 and self.spare is None:
            self.spare = self._spawn()  # its fork overlaps the task
        kind, payload, header, timed_out = self._collect(proc)
        if kind in (TRACE, LAST_TRACE):
            proc.served += 1
            if kind == LAST_TRACE or proc.served >= self.config.tasks_per_process:
                self.process, self.finished = None, proc  # retired before the next task
            return payload
        status, note = self._retire(proc, kill=True)
        error = _death(status, timed_out, self.config) + note
        entry, entry_line = header.get("entry", ""), header.get("entry_line", 0)
        return self.encode(
            invalid_trace(task, error, self.backend, "crashed", entry=entry, entry_line=entry_line)
        )

    def _screen(self, task: TraceTask) -> bytes | None:
        """The screening process's short Trace for ``task``, or None: trace it."""
        if self.screener is None:
            self.screener = self._spawn(screening=True)
        proc = self.screener
        with contextlib.suppress(BrokenPipeError):
            write_all(proc.task_fd, frame(TASK, self.encode(task)))
        kind, payload, _, _ = self._collect(proc)
        if kind == TRACE:
            return payload
        # it ends after a write, state or C call (PASS, or LAST_TRACE when screened out) or a
        # limit (LAST_TRACE), and dies on a crash (the task is traced anyway)
        last = kind in (LAST_TRACE, None) or (kind == PASS and msgspec.msgpack.decode(payload))
        if last:
            self._retire(proc, kill=kind is None)
        return payload if kind == LAST_TRACE else None

    def _spawn(self, screening: bool = False) -> _Process:
        self.spawned += 1
        stderr = os.path.join(self.base, f".stderr-{self.spawned}")
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        # the child closes the worker's ends, and those of the other task processes
        theirs = [task_w, result_r, *self.protocol_fds]
        for other in self._live():
            theirs += [other.task_fd, other.result_fd]
        # made here, not in the child: what a child allocates costs it copied memory pages
        process = TaskProcess(
            self.config,
            self.backend,
            self.isolation,
            self.isolated_network,
            task_r,
            result_w,
            self.workdir,
            stderr,
            self.codes,
            screening,
        )
        pid = fork_child(process.main, close=theirs, status=70)
        os.close(task_r)
        os.close(result_w)
        return _Process(pid, task_w, result_r, stderr)

    def _retire(self, proc: _Process, kill: bool = False) -> tuple[int, str]:
        """Stop a task process and clean up after it; its wait status and what it left on stderr."""
        if proc is self.process:
            self.process = None
        if proc is self.spare:
            self.spare = None
        if proc is self.screener:
            self.screener = None
        for fd in (proc.task_fd, proc.result_fd):
            with contextlib.suppress(OSError):
                os.close(fd)  # a live process sees end of file and exits
        if kill:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        _, status = os.waitpid(proc.pid, 0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the tasks left behind
        live = self._live()
        kill_orphans(keep={p.pid for p in live})  # and what left the process group
        note = _stderr_note(proc.stderr) if status else ""
        # the working directory and anything else written beside it; live processes' stderr stays
        kept = [WORKDIR, *(os.path.basename(p.stderr) for p in live)]
        if empty_directory(self.base, keep=kept, empty=WORKDIR):
            while others := self._live():  # their working directory had to be made anew
                self._retire(others[0])
        os.chdir(self.workdir)
        return status, note

    def _collect(self, proc: _Process) -> tuple[bytes | None, bytes, dict[str, Any], bool]:
        """Read until the process answers (the frame's kind and payload), dies or runs out of time.

        Also the task's header and whether time ran out; the kind is None if no answer came.
        """
        config = self.config
        deadline = time.monotonic() + max(config.max_seconds, config.cpu_seconds) + _GRACE_SECONDS
        header: dict[str, Any] = {}
        poller = select.poll()
        poller.register(proc.result_fd, select.POLLIN | select.POLLHUP)
        while True:
            while (found := take_frame(proc.buf)) is not None:
                kind, data = found
                if kind == HEADER:
                    header = msgspec.msgpack.decode(data)
                elif kind in (TRACE, LAST_TRACE, PASS):
                    return kind, data, header, False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, b"", header, True
            if not poller.poll(remaining * 1000):
                continue
            chunk = os.read(proc.result_fd, 1 << 16)
            if not chunk:
                return None, b"", header, False
            proc.buf += chunk


def task_imports(task: TraceTask) -> list[str]:
    """The modules a task's source imports (by its import statements)."""
    return _IMPORT.findall(task.source)


def preload(names: list[str], imported: set[str]) -> bool:
    """Import the stdlib modules among ``names`` not yet in ``imported`` (which they join).

    True if any was new.
    """
    new = False
    for name in names:
        top = name.split(".")[0]
        if name in imported or top not in sys.stdlib_module_names or top in _NEVER_PRELOAD:
            continue
        imported.add(name)
        new = True
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    return new


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _trim_heap() -> None:
    trim = getattr(_libc(), "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)


def _death(status: int, timed_out: bool, config: TraceConfig) -> str:
    limit = max(config.max_seconds, config.cpu_seconds) + _GRACE_SECONDS
    if timed_out:
        return f"killed after {limit:g} s of wall time (stuck where no Python code runs)"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL:
            return "killed (SIGKILL), e.g. by the system's out-of-memory killer"
        if sig == signal.SIGSEGV:
            return "segmentation fault (SIGSEGV) in the traced code"
        return f"killed by {signal.Signals(sig).name}"
    return f"the task process exited with status {os.WEXITSTATUS(status)} before it finished (os._exit?)"


def _stderr_note(path: str) -> str:
    """The start of what the task wrote to its stderr (a fatal error's stack, innermost first)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4000).decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    if lines and lines[0].startswith("Traceback"):
        lines = lines[-3:]  # a Python traceback ends with the error
    else:  # faulthandler: the fatal error, then the stack innermost first
        lines = [line for line in lines if not line.startswith("Current thread")][:4]
    return f"; stderr: {' | '.join(lines)}" if lines else ""
