"""A task process: forked from a trace worker, it isolates itself once, then traces tasks.

It reads task frames from the worker, traces each (`cwm.data.trace.runner`) under
the limits of `cwm.data.trace.workers.isolation`, and writes back a header (the
entry, so a crash report can name it) and then the Trace. A limit, a crash or a
side effect ends the process after its Trace (a LAST_TRACE frame), so the next
task starts in a fresh one.

A screening process (`TraceConfig.screen`) runs each task's call once, untraced,
and serves task after task: a call that raises one of the screened exceptions (any
exception, for a task whose meta sets ``screen_any_raise``), returns a value whose
repr shows a memory address (``screen_addresses``), touches files, processes or
the network, or passes a limit (traced, it would pass it too: truncated), or a task
that is invalid, comes back as a short Trace marked ``meta.screened``; any other
answers PASS, and the task is traced in a fresh process. So the state it keeps
between tasks decides only which tasks are traced, never what a trace records.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import resource
import signal
import sys
import tempfile
from typing import Any

import msgspec

from cwm.core.schemas import Trace
from cwm.core.schemas.trace import Outcome
from cwm.data.trace.accel import repr_function
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.recorder import limit_reasons
from cwm.data.trace.reprs import shows_address
from cwm.data.trace.runner import TaskRun, invalid_trace, run_prepared
from cwm.data.trace.target import InvalidTask, prepare
from cwm.data.trace.task import TraceTask
from cwm.data.trace.workers.code_cache import CodeCache
from cwm.data.trace.workers.isolation import BoundedOutput, Guard, limit_resources
from cwm.data.trace.workers.protocol import (
    HEADER,
    LAST_TRACE,
    PASS,
    TRACE,
    frame,
    read_frame,
    write_all,
)

#: a task meta key: with screening on, any exception its call raises screens it out (a
#: dataset build sets it for a function whose quota of raised traces is full)
SCREEN_ANY_RAISE = "screen_any_raise"
_ENCODE = msgspec.msgpack.Encoder().encode
_DECODE_TASK = msgspec.msgpack.Decoder(TraceTask).decode


class TaskProcess:
    """A forked task process: isolate once, then trace the tasks it is sent, one at a time."""

    def __init__(
        self,
        config: TraceConfig,
        backend: str,
        isolation: str,
        isolated_network: bool,
        task_fd: int,
        result_fd: int,
        workdir: str,
        stderr: str,
        codes: CodeCache | None = None,
        screening: bool = False,
    ):
        self.config, self.backend, self.isolation = config, backend, isolation
        self.isolated_network = isolated_network
        self.task_fd, self.result_fd, self.workdir = task_fd, result_fd, workdir
        self.stderr = stderr
        self.task: TraceTask | None = None
        self.run_: TaskRun | None = None
        self.guard = Guard(workdir, self.config.network)
        self.printed = [0]
        self.codes = codes or CodeCache()  # the worker's, inherited through the fork
        self.screening = screening
        self.screened = frozenset(config.screen)

    def main(self) -> None:
        os.setpgid(0, 0)
        self._isolate()
        sys.addaudithook(self.guard)
        buf = bytearray()
        first = True
        while (found := read_frame(self.task_fd, buf)) is not None:
            self.task, self.run_ = _DECODE_TASK(found[1]), None
            self._fresh_streams(stdin=not first)
            first = False
            sys.argv = [self.task.module]  # as if the module were a script run with no arguments
            self.printed[0] = 0
            self.guard.touched.clear()
            self.guard.changed = False
            self._limit_cpu()
            # traced, the recorder stops a call at max_seconds and this is a backstop; an
            # untraced call past max_seconds would be truncated traced, so it is the limit
            grace = 0.0 if self.screening else 0.5
            signal.setitimer(signal.ITIMER_REAL, self.config.max_seconds + grace)
            if self.screening:
                self._screen(self.task)
                continue
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
            code = self.codes.get(task)
            target = prepare(task.source, task.call, task.module, package=task.package, code=code)
        except InvalidTask as exc:
            return invalid_trace(task, str(exc), self.backend)
        except Exception as exc:  # the source broke something the tracer itself uses
            return invalid_trace(task, f"preparing the task failed: {exc!r}", self.backend)
        self._write(HEADER, {"entry": target.entry_name, "entry_line": target.entry_line})
        self.run_ = run = TaskRun(task, self.config, target, self.backend)
        try:
            return run_prepared(run, on_limit=self.stop)
        finally:
            target.close()

    def _screen(self, task: TraceTask) -> None:
        """Run the call untraced: a short Trace if it is screened out, else PASS."""
        try:
            target = prepare(
                task.source, task.call, task.module, package=task.package, code=self.codes.get(task)
            )
        except InvalidTask as exc:
            return self._send(self._screened(invalid_trace(task, str(exc), self.backend)), False)
        except Exception:  # the source broke something the tracer uses: left to a fresh process
            return self._pass()
        outcome: Outcome | None = "returned"
        try:
            value = target.callee(*target.args, **target.kwargs)
        except Exception as exc:
            outcome = "raised"
            if type(exc).__name__ in self.screened or task.meta.get(SCREEN_ANY_RAISE):
                return self._screen_out(task, "raised", self._result(exc))
        except BaseException:  # SystemExit and the like: for the tracer to record
            outcome = None
        else:
            if self.config.screen_addresses and shows_address(result := self._result(value)):
                return self._screen_out(task, "returned", result)
        finally:
            target.close()
        if self.guard.touched and outcome is not None:  # its trace would be dropped too
            return self._screen_out(task, outcome, "")  # (ends this process after a change)
        self._pass()

    def _result(self, value: object) -> str:
        """The text of a returned value or exception, as a Trace's ``result`` holds it."""
        return repr_function(self.config.accelerate)(value, self.config.max_result_repr)

    def _screen_out(self, task: TraceTask, outcome: Outcome, result: str) -> None:
        """Send the short Trace of a task screened out: its outcome and result."""
        trace = invalid_trace(task, "", self.backend, outcome)
        trace = msgspec.structs.replace(trace, result=result, error=None)
        self._send(self._screened(trace), False)

    def _screened(self, trace: Trace) -> Trace:
        return msgspec.structs.replace(trace, meta={**trace.meta, "screened": True})

    def _pass(self) -> None:
        """Not screened out: PASS. After a change (`Guard.changed`) this process ends once it answers."""
        signal.setitimer(signal.ITIMER_REAL, 0)
        last = self.guard.changed
        self._write(PASS, last)
        if last:
            os._exit(0)

    def _isolate(self) -> None:
        """What is this process's own; the rest the worker did once (`settle_for_tasks`)."""
        devnull = os.open(os.devnull, os.O_RDWR)
        err = os.open(self.stderr, os.O_WRONLY | os.O_CREAT, 0o600)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(err, 2)  # where faulthandler writes: a crash leaves its Python stack there
        global _running
        _running = self  # SIGXCPU and SIGALRM stop it (handlers set in the worker)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        limit_resources(self.config)

    def _fresh_streams(self, stdin: bool) -> None:
        """Standard streams as new for each task (an earlier task may have closed or replaced them)."""
        sys.stdout = sys.stderr = BoundedOutput(
            self.config.max_output_bytes, self.stop, self.printed
        )
        if stdin:  # the first task has the worker's, at /dev/null
            with contextlib.suppress(Exception):
                sys.stdin.close()
            sys.stdin = open(os.devnull)  # noqa: SIM115 (closed before the next task)

    def stop(self, reason: str) -> None:
        """A limit was hit: send what was traced so far and exit (called from a tracer or a signal)."""
        run, task = self.run_, self.task
        if task is None:
            os._exit(0)
        if self.screening:  # traced (slower), it would pass the same limit: truncated
            trace = invalid_trace(task, reason, self.backend, "truncated")
            self._send(self._screened(trace), last=True)
        if run is None:
            trace = invalid_trace(task, f"while loading the source: {reason}", self.backend)
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
        meta["network"] = "namespace" if self.isolated_network else "audit"
        meta["isolation"] = self.isolation
        last = last or (self.screening and self.guard.changed)
        self._write(LAST_TRACE if last else TRACE, msgspec.structs.replace(trace, meta=meta))
        if last:
            os._exit(0)

    def _write(self, kind: bytes, obj: Any) -> None:
        write_all(self.result_fd, frame(kind, _ENCODE(obj)))


def settle_for_tasks(workdir: str) -> None:
    """Set up, once in the worker, what every task process it forks would set up alike.

    The working directory (also ``HOME`` and ``TMPDIR``), stdin at /dev/null, faulthandler on descriptor 2
    (each task process points 2 at its own stderr file), and too-large writes failing
    instead of killing, and the handlers of the CPU and wall-clock limits.
    """
    os.chdir(workdir)
    for var in ("HOME", "TMPDIR", "TMP", "TEMP"):
        os.environ[var] = workdir
    tempfile.tempdir = workdir
    faulthandler.enable(file=open(2, "w", closefd=False))  # noqa: SIM115 (lives as long as the process)
    sys.stdin = open(os.devnull)  # noqa: SIM115 (lives as long as the process)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGXCPU, _on_limit)
    signal.signal(signal.SIGALRM, _on_limit)


#: the task process this is, once forked (None in the worker, where the limits never fire)
_running: TaskProcess | None = None


def _on_limit(signum: int, _frame: Any) -> None:
    if _running is not None:
        config = _running.config
        cpu = signum == signal.SIGXCPU
        _running.stop(_cpu_reason(config) if cpu else limit_reasons(config)[2])


def _cpu_reason(config: TraceConfig) -> str:
    return f"cpu_seconds: the call used more than {config.cpu_seconds:g} s of CPU time"
