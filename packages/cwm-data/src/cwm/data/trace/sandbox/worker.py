"""The trace worker: a fork server whose forked task processes run the tasks.

`TracePool` starts it as ``python -m cwm.data.trace.sandbox.worker``. It reads a
config frame, then task frames, on stdin and answers each task with one Trace
frame on stdout. It imports the stdlib modules a task's source imports (once,
so task processes inherit them), then hands the task to a task process forked
from itself: that process applies the limits of
`cwm.data.trace.sandbox.isolation`, runs the task and writes its Trace back. A
task process that dies, or hangs past the wall limit and is killed, becomes a
``crashed`` Trace here. A task process serves ``tasks_per_process`` tasks (each
in a fresh module) and is replaced after any limit, crash or side effect, so
nothing one task does reaches another through a process that stays.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import importlib
import os
import re
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

import msgspec

from cwm.core.schemas import Trace
from cwm.data.trace.backends import get_backend
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.runner import TaskRun, invalid_trace, run_prepared
from cwm.data.trace.sandbox.isolation import (
    BoundedOutput,
    Guard,
    enter_network_namespace,
    limit_resources,
)
from cwm.data.trace.sandbox.protocol import (
    HEADER,
    LAST_TRACE,
    TASK,
    TRACE,
    frame,
    read_frame,
    take_frame,
    write_all,
)
from cwm.data.trace.target import (
    InvalidTask,
    compile_source,
    normalize_source,
    prepare,
    task_filename,
)
from cwm.data.trace.task import TraceTask

_NEVER_PRELOAD = frozenset({"antigravity", "this", "tkinter", "turtle", "turtledemo", "idlelib"})
_IMPORT = re.compile(r"^(?:import|from)\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_GRACE_SECONDS = 3.0  # after the wall and CPU limits, before the worker kills a task


@dataclass
class _Process:
    """A forked task process, seen from the worker."""

    pid: int
    task_fd: int  # worker -> process
    result_fd: int  # process -> worker
    workdir: str
    served: int = 0
    buf: bytearray = field(default_factory=bytearray)


class Worker:
    def __init__(self, config: TraceConfig):
        self.config = config
        self.backend = get_backend(config.backend).name
        self.isolated_network = not config.network and enter_network_namespace()
        self.base = tempfile.mkdtemp(prefix="cwm-trace-")
        self.imported: set[str] = set()
        self.spawned = 0
        self.process: _Process | None = None
        self.protocol_fds: tuple[int, ...] = ()  # task processes close these
        self.encode = msgspec.msgpack.Encoder().encode
        self._preload(config.preload)

    def close(self) -> None:
        if self.process is not None:
            self._retire(self.process)
        shutil.rmtree(self.base, ignore_errors=True)

    def _preload(self, names: list[str]) -> None:
        for name in names:
            top = name.split(".")[0]
            if name in self.imported or top not in sys.stdlib_module_names or top in _NEVER_PRELOAD:
                continue
            self.imported.add(name)
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    def run(self, task: TraceTask) -> bytes:
        """Trace one task in a task process; the encoded Trace."""
        if self.process is None:
            self._preload(_IMPORT.findall(task.source))
            self.process = self._spawn()
        proc = self.process
        with contextlib.suppress(BrokenPipeError):  # it died since its last task: _collect says how
            write_all(proc.task_fd, frame(TASK, self.encode(task)))
        payload, last, header, timed_out = self._collect(proc)
        if payload is not None:
            proc.served += 1
            if last or proc.served >= self.config.tasks_per_process:
                self._retire(proc)
            return payload
        status, note = self._retire(proc, kill=True)
        error = _death(status, timed_out, self.config) + note
        return self.encode(
            Trace(
                id=task.id,
                source=normalize_source(task.source),
                entry=header.get("entry", ""),
                entry_line=header.get("entry_line", 0),
                call=task.call,
                outcome="crashed",
                error=error,
                tracer=self.backend,
                meta=dict(task.meta),
            )
        )

    def _spawn(self) -> _Process:
        self.spawned += 1
        workdir = os.path.join(self.base, str(self.spawned))
        os.mkdir(workdir)
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        gc.freeze()  # task processes then leave the worker's objects (and memory pages) alone
        pid = os.fork()
        if pid == 0:
            try:
                for fd in (task_w, result_r, *self.protocol_fds):
                    os.close(fd)
                _TaskProcess(self, task_r, result_w, workdir).main()
            except BaseException:
                # into .stderr (fd 2; sys.stderr only counts), which the crash report quotes
                os.write(2, traceback.format_exc().encode())
            finally:
                os._exit(70)
        os.close(task_r)
        os.close(result_w)
        return _Process(pid, task_w, result_r, workdir)

    def _retire(self, proc: _Process, kill: bool = False) -> tuple[int, str]:
        """Stop a task process and clean up after it; its wait status and what it left on stderr."""
        self.process = None
        for fd in (proc.task_fd, proc.result_fd):
            with contextlib.suppress(OSError):
                os.close(fd)  # a live process sees end of file and exits
        if kill:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        _, status = os.waitpid(proc.pid, 0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the tasks left behind
        note = _stderr_note(proc.workdir) if status else ""
        shutil.rmtree(proc.workdir, ignore_errors=True)
        return status, note

    def _collect(self, proc: _Process) -> tuple[bytes | None, bool, dict[str, Any], bool]:
        """Read until the process sends a trace, dies, or runs out of time."""
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
                elif kind in (TRACE, LAST_TRACE):
                    return data, kind == LAST_TRACE, header, False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, True, header, True
            if not poller.poll(remaining * 1000):
                continue
            chunk = os.read(proc.result_fd, 1 << 16)
            if not chunk:
                return None, True, header, False
            proc.buf += chunk


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


def _stderr_note(workdir: str) -> str:
    """The start of what the task wrote to its stderr (a fatal error's stack, innermost first)."""
    try:
        with open(os.path.join(workdir, ".stderr"), "rb") as f:
            head = f.read(4000).decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    if lines and lines[0].startswith("Traceback"):
        lines = lines[-3:]  # a Python traceback ends with the error
    else:  # faulthandler: the fatal error, then the stack innermost first
        lines = [line for line in lines if not line.startswith("Current thread")][:4]
    return f"; stderr: {' | '.join(lines)}" if lines else ""


class _TaskProcess:
    """A forked task process: isolate once, then trace the tasks it is sent, one at a time."""

    def __init__(self, worker: Worker, task_fd: int, result_fd: int, workdir: str):
        self.worker, self.config = worker, worker.config
        self.task_fd, self.result_fd, self.workdir = task_fd, result_fd, workdir
        self.task: TraceTask | None = None
        self.run_: TaskRun | None = None
        self.guard = Guard(workdir, self.config.network)
        self.printed = [0]
        self.compiled: OrderedDict[tuple[str, str], CodeType] = OrderedDict()

    def main(self) -> None:
        os.setpgid(0, 0)
        self._isolate()
        sys.addaudithook(self.guard)
        decode = msgspec.msgpack.Decoder(TraceTask).decode
        buf = bytearray()
        while (found := read_frame(self.task_fd, buf)) is not None:
            self.task, self.run_ = decode(found[1]), None
            self.printed[0] = 0
            self.guard.touched.clear()
            self._fresh_streams()
            self._limit_cpu()
            signal.setitimer(signal.ITIMER_REAL, self.config.max_seconds + 0.5)
            trace = self._trace(self.task)
            self._send(
                trace, last=trace.outcome in ("truncated", "crashed") or bool(self.guard.touched)
            )
        os._exit(0)

    def _limit_cpu(self) -> None:
        """RLIMIT_CPU counts the whole process: allow this task cpu_seconds more than so far."""
        used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        soft = int(used + max(1.0, self.config.cpu_seconds)) + 1
        self.guard.paused = True
        try:
            resource.setrlimit(
                resource.RLIMIT_CPU, (soft, resource.getrlimit(resource.RLIMIT_CPU)[1])
            )
        finally:
            self.guard.paused = False

    def _trace(self, task: TraceTask) -> Trace:
        try:
            code = self._compile(task)
            target = prepare(task.source, task.call, task.module, package=task.package, code=code)
        except InvalidTask as exc:
            return invalid_trace(task, str(exc), self.worker.backend)
        except Exception as exc:  # the source broke something the tracer itself uses
            return invalid_trace(task, f"preparing the task failed: {exc!r}", self.worker.backend)
        self._write(HEADER, {"entry": target.entry_name, "entry_line": target.entry_line})
        self.run_ = run = TaskRun(task, self.config, target, self.worker.backend)
        try:
            return run_prepared(run, on_limit=self.stop)
        finally:
            target.close()

    def _compile(self, task: TraceTask) -> CodeType:
        key = (normalize_source(task.source), task.module)
        found = self.compiled.get(key)
        if found is None:
            found = self.compiled[key] = compile_source(key[0], task_filename(task.module))
            if len(self.compiled) > 16:
                self.compiled.popitem(last=False)
        return found

    def _isolate(self) -> None:
        workdir = self.workdir
        os.chdir(workdir)
        for var in ("HOME", "TMPDIR", "TMP", "TEMP"):
            os.environ[var] = workdir
        tempfile.tempdir = workdir
        devnull = os.open(os.devnull, os.O_RDWR)
        err = os.open(os.path.join(workdir, ".stderr"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(err, 2)
        # a crash leaves its Python stack in .stderr (the file object lives as long as the process)
        faulthandler.enable(file=open(2, "w", closefd=False))  # noqa: SIM115
        sys.stdout = sys.stderr = BoundedOutput(
            self.config.max_output_bytes, self.stop, self.printed
        )
        sys.stdin = open(os.devnull)  # noqa: SIM115 (lives as long as the process)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails instead
        signal.signal(signal.SIGXCPU, lambda *_: self.stop(_cpu_reason(self.config)))
        signal.signal(signal.SIGALRM, lambda *_: self.stop(_wall_reason(self.config)))
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        limit_resources(self.config)

    def _fresh_streams(self) -> None:
        """Standard streams as new for each task (an earlier task may have closed or replaced them)."""
        sys.stdout = sys.stderr = BoundedOutput(
            self.config.max_output_bytes, self.stop, self.printed
        )
        with contextlib.suppress(Exception):
            sys.stdin.close()
        sys.stdin = open(os.devnull)  # noqa: SIM115 (closed before the next task)

    def stop(self, reason: str) -> None:
        """A limit was hit: send what was traced so far and exit (called from a tracer or a signal)."""
        run, task = self.run_, self.task
        if task is None:
            os._exit(0)
        if run is None:
            trace = invalid_trace(task, f"while loading the source: {reason}", self.worker.backend)
        else:
            if run.recorder is not None and run.recorder.stopped is None:
                run.recorder.stopped = reason
            trace = run.finish("truncated", error=reason)
        self._send(trace, last=True)
        os._exit(0)

    def _send(self, trace: Trace, last: bool) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        meta = {
            **trace.meta,
            "printed_bytes": self.printed[0],
            "touched": sorted(self.guard.touched),
        }
        meta["network"] = "namespace" if self.worker.isolated_network else "audit"
        self._write(LAST_TRACE if last else TRACE, msgspec.structs.replace(trace, meta=meta))
        if last:
            os._exit(0)

    def _write(self, kind: bytes, obj: Any) -> None:
        write_all(self.result_fd, frame(kind, self.worker.encode(obj)))


def _cpu_reason(config: TraceConfig) -> str:
    return f"cpu_seconds: the call used more than {config.cpu_seconds:g} s of CPU time"


def _wall_reason(config: TraceConfig) -> str:
    return f"max_seconds: the call ran longer than {config.max_seconds:g} s"


def main() -> None:
    inp, out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # a stray print must not corrupt the protocol
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool decides when workers stop
    buf = bytearray()
    first = read_frame(inp, buf)
    if first is None:
        return
    worker = Worker(msgspec.msgpack.decode(first[1], type=TraceConfig))
    worker.protocol_fds = (inp, out)
    decode = msgspec.msgpack.Decoder(TraceTask).decode
    try:
        while (found := read_frame(inp, buf)) is not None:
            write_all(out, frame(TRACE, worker.run(decode(found[1]))))
    finally:
        worker.close()


if __name__ == "__main__":
    main()
