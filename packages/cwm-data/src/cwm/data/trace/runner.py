"""Tracing one task in this process: prepare it, run the call under a backend, build the Trace.

This is what a sandbox worker runs for each task. Called directly
(`trace_call(..., sandbox=False)`) it gives no isolation: the traced code runs
in the caller's interpreter, and a limit is enforced by raising `TraceLimit`
into it, which code that swallows BaseException can ignore.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cwm.core.schemas import Outcome, Trace
from cwm.data.trace.accel import make_recorder, repr_function
from cwm.data.trace.backends import get_backend
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.recorder import Recorder, TraceLimit
from cwm.data.trace.reprs import value_repr
from cwm.data.trace.target import InvalidTask, Target, normalize_source, prepare
from cwm.data.trace.task import TraceTask


def invalid_trace(
    task: TraceTask,
    error: str,
    tracer: str = "",
    outcome: Outcome = "invalid",
    *,
    entry: str = "",
    entry_line: int = 0,
) -> Trace:
    """The record of a task that never ran to the end: it was invalid, or its worker crashed."""
    return Trace(
        id=task.id,
        source=normalize_source(task.source),
        entry=entry,
        entry_line=entry_line,
        call=task.call,
        outcome=outcome,
        error=error,
        tracer=tracer,
        meta=dict(task.meta),
    )


class TaskRun:
    """One task being traced; `finish` builds its Trace at any point (also from a limit handler)."""

    def __init__(self, task: TraceTask, config: TraceConfig, target: Target, backend_name: str):
        self.task, self.config, self.target = task, config, target
        self.backend_name = backend_name
        self.started = time.perf_counter()
        self.recorder: Recorder | None = None

    def make_recorder(self, on_limit: Callable[[str], Any] | None) -> Recorder:
        target, config = self.target, self.config
        self.recorder = make_recorder(
            entry_code=target.entry.__code__,
            filename=target.filename,
            lines=target.lines,
            globals_=target.module.__dict__,
            config=config,
            on_limit=on_limit,
        )
        return self.recorder

    def finish(
        self, outcome: Outcome, result: str | None = None, error: str | None = None
    ) -> Trace:
        rec = self.recorder
        frames = list(rec.frames) if rec is not None else []
        if rec is not None and rec.stopped is not None and outcome != "crashed":
            outcome, error = "truncated", rec.stopped
        elif outcome in ("returned", "raised") and rec is not None and not rec.done:
            if not rec.started:
                name = self.target.entry_name
                outcome = "invalid"
                error = f"the call returned without running {name} (a cache or wrapper answered it)"
            else:
                outcome, error = "truncated", "tracing was switched off by the traced code"
        elapsed = time.perf_counter() - self.started
        meta = {
            **self.task.meta,
            "steps": len(frames),
            "seconds": int(elapsed * 1e6) / 1e6,  # to the microsecond (round() costs more)
        }
        return Trace(
            id=self.task.id,
            source=self.target.source,
            entry=self.target.entry_name,
            entry_line=self.target.entry_line,
            call=self.task.call,
            frames=frames,
            outcome=outcome,
            result=result,
            error=error,
            tracer=self.backend_name,
            meta=meta,
        )


def run_prepared(run: TaskRun, on_limit: Callable[[str], Any] | None = None) -> Trace:
    """Trace the prepared call; returns the finished Trace."""
    backend = get_backend(run.config.backend)
    recorder = run.make_recorder(on_limit)
    target = run.target
    limit = run.config.max_result_repr
    result_repr = repr_function(run.config.accelerate)
    try:
        value = backend.run(recorder, target.callee, target.args, target.kwargs)
    except TraceLimit as stop:
        return run.finish("truncated", error=stop.reason)
    except MemoryError as exc:
        return run.finish(
            "crashed", error=f"out of memory ({value_repr(exc, 200)}); memory_mb sets the limit"
        )
    except BaseException as exc:  # what the call raised, SystemExit and KeyboardInterrupt included
        return run.finish("raised", result=result_repr(exc, limit))
    return run.finish("returned", result=result_repr(value, limit))


def trace_in_process(task: TraceTask, config: TraceConfig | None = None) -> Trace:
    """Trace ``task`` in this interpreter (no isolation; see the module docstring)."""
    config = config or TraceConfig()
    backend_name = get_backend(config.backend).name
    try:
        target = prepare(task.source, task.call, task.module, package=task.package)
    except InvalidTask as exc:
        return invalid_trace(task, str(exc), backend_name)
    try:
        return run_prepared(TaskRun(task, config, target, backend_name))
    finally:
        target.close()
