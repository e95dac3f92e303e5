"""The trace worker: a fork server that runs each task in a fresh child process.

`TracePool` starts it as ``python -m cwm.data.trace.sandbox.worker``. It reads a
config frame, then task frames, on stdin and answers each task with one Trace
frame on stdout. For a task it compiles the source (a syntax error needs no
process), imports the stdlib modules the source imports (once per worker, so
tasks do not pay for them), then forks: the child applies the limits of
`cwm.data.trace.sandbox.isolation`, runs the task and writes its Trace back.
A child that dies, hangs past the wall limit or is killed becomes a
``crashed`` Trace here. Every child starts from the worker's clean memory, so
nothing one task does reaches the next.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import importlib
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from collections import OrderedDict
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
from cwm.data.trace.sandbox.protocol import HEADER, TRACE, frame, read_frame, take_frame, write_all
from cwm.data.trace.target import (
    InvalidTask,
    compile_source,
    normalize_source,
    prepare,
    task_filename,
)
from cwm.data.trace.task import TraceTask

_NEVER_PRELOAD = frozenset({"antigravity", "this", "tkinter", "turtle", "turtledemo", "idlelib"})
_GRACE_SECONDS = 3.0  # after the wall and CPU limits, before the worker kills a task


class Worker:
    def __init__(self, config: TraceConfig):
        self.config = config
        self.backend = get_backend(config.backend).name
        self.isolated_network = not config.network and enter_network_namespace()
        self.base = tempfile.mkdtemp(prefix="cwm-trace-")
        self.compiled: OrderedDict[tuple[str, str], tuple[CodeType, Any]] = OrderedDict()
        self.imported: set[str] = set()
        self.tasks = 0
        self.protocol_fds: tuple[int, ...] = ()  # the child closes these
        self.encode = msgspec.msgpack.Encoder().encode
        self._preload(config.preload)

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def _preload(self, names: list[str]) -> None:
        for name in names:
            top = name.split(".")[0]
            if name in self.imported or top not in sys.stdlib_module_names or top in _NEVER_PRELOAD:
                continue
            self.imported.add(name)
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    def _compile(self, task: TraceTask) -> tuple[str, tuple[CodeType, Any]]:
        source = normalize_source(task.source)
        key = (source, task.module)
        found = self.compiled.get(key)
        if found is None:
            found = compile_source(source, task_filename(task.module))
            self.compiled[key] = found
            if len(self.compiled) > 64:
                self.compiled.popitem(last=False)
            tree = found[1]
            self._preload(
                [a.name for n in tree.body if type(n).__name__ == "Import" for a in n.names]
                + [
                    n.module
                    for n in tree.body
                    if type(n).__name__ == "ImportFrom" and n.module and not n.level
                ]
            )
        else:
            self.compiled.move_to_end(key)
        return source, found

    def run(self, task: TraceTask) -> bytes:
        try:
            _, compiled = self._compile(task)
        except InvalidTask as exc:
            return self.encode(invalid_trace(task, str(exc), self.backend))
        self.tasks += 1
        workdir = os.path.join(self.base, str(self.tasks))
        os.mkdir(workdir)
        read_end, write_end = os.pipe()
        gc.freeze()  # children then leave the worker's objects (and their memory pages) alone
        pid = os.fork()
        if pid == 0:  # the task process
            try:
                os.close(read_end)
                _Child(task, compiled, self, write_end, workdir).main()
            finally:
                os._exit(70)
        os.close(write_end)
        try:
            return self._collect(task, pid, read_end, workdir)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # anything the task left behind
            shutil.rmtree(workdir, ignore_errors=True)

    def _collect(self, task: TraceTask, pid: int, fd: int, workdir: str) -> bytes:
        config = self.config
        limit = max(config.max_seconds, config.cpu_seconds) + _GRACE_SECONDS
        deadline = time.monotonic() + limit
        buf, header, payload, timed_out = bytearray(), {}, None, False
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                break
            if not poller.poll(remaining * 1000):
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            buf += chunk
            while (found := take_frame(buf)) is not None:
                kind, data = found
                if kind == HEADER:
                    header = msgspec.msgpack.decode(data)
                elif kind == TRACE:
                    payload = data
        os.close(fd)
        _, status = os.waitpid(pid, 0)
        if payload is not None:
            return payload
        error = _death(status, timed_out, limit, config) + _stderr_note(workdir)
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


def _death(status: int, timed_out: bool, limit: float, config: TraceConfig) -> str:
    if timed_out:
        return f"killed after {limit:g} s of wall time (stuck where no Python code runs)"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL:
            return (
                f"killed (SIGKILL): past the CPU limit of {config.cpu_seconds:g} s, "
                "or by the system's out-of-memory killer"
            )
        if sig == signal.SIGSEGV:
            return "segmentation fault (SIGSEGV) in the traced code"
        return f"killed by {signal.Signals(sig).name}"
    return f"the task process exited with status {os.WEXITSTATUS(status)} before it finished (os._exit?)"


def _stderr_note(workdir: str) -> str:
    """The start of what the task wrote to its stderr (a fatal error's stack, innermost first)."""
    try:
        with open(os.path.join(workdir, ".stderr"), "rb") as f:
            head = f.read(2000).decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Current thread")][:4]
    return f"; stderr: {' | '.join(lines)}" if lines else ""


class _Child:
    """The forked task process: isolate, trace, send the Trace, exit."""

    def __init__(self, task: TraceTask, compiled: Any, worker: Worker, fd: int, workdir: str):
        self.task, self.compiled, self.worker, self.fd = task, compiled, worker, fd
        self.workdir, self.config = workdir, worker.config
        self.run_: TaskRun | None = None
        self.guard: Guard | None = None
        self.printed = [0]
        self.ballast: bytearray | None = None

    def main(self) -> None:
        os.setpgid(0, 0)
        for fd in self.worker.protocol_fds:
            os.close(fd)
        self._isolate()
        self.guard = guard = Guard(self.workdir, self.config.network)
        sys.addaudithook(guard)
        try:
            target = prepare(self.task.source, self.task.call, self.task.module, code=self.compiled)
        except InvalidTask as exc:
            self._send(invalid_trace(self.task, str(exc), self.worker.backend))
            return
        self._write(HEADER, {"entry": target.entry_name, "entry_line": target.entry_line})
        self.run_ = run = TaskRun(self.task, self.config, target, self.worker.backend)
        self._send(run_prepared(run, on_limit=self.stop))

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
        out = BoundedOutput(self.config.max_output_bytes, self.stop, self.printed)
        sys.stdout = sys.stderr = out
        sys.stdin = open(os.devnull)  # noqa: SIM115 (lives as long as the process)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails instead
        signal.signal(signal.SIGXCPU, lambda *_: self.stop(_cpu_reason(self.config)))
        signal.signal(signal.SIGALRM, lambda *_: self.stop(_wall_reason(self.config)))
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.setitimer(signal.ITIMER_REAL, self.config.max_seconds + 0.5)
        limit_resources(self.config)
        self.ballast = bytearray(
            8 << 20
        )  # freed before sending, so a MemoryError can still be reported

    def stop(self, reason: str) -> None:
        """A limit was hit: send what was traced so far and exit (called from a tracer or a signal)."""
        run = self.run_
        if run is None:
            self._send(
                invalid_trace(self.task, f"while loading the source: {reason}", self.worker.backend)
            )
        else:
            if run.recorder is not None and run.recorder.stopped is None:
                run.recorder.stopped = reason
            self._send(run.finish("truncated", error=reason))
        os._exit(0)

    def _send(self, trace: Trace) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        self.ballast = None
        meta = {**trace.meta, "printed_bytes": self.printed[0]}
        if self.guard is not None:
            meta["touched"] = sorted(self.guard.touched)
        meta["network"] = "namespace" if self.worker.isolated_network else "audit"
        self._write(TRACE, msgspec.structs.replace(trace, meta=meta))
        os._exit(0)

    def _write(self, kind: bytes, obj: Any) -> None:
        write_all(self.fd, frame(kind, self.worker.encode(obj)))


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
