"""Traces agree with execution, on real standard-library functions with harvested inputs.

- the recorded result is the repr of what a direct call (no tracer) returns or raises;
- every line, return and exception frame is at the line an independent sys.settrace
  recorder sees run, in the same order;
- the rendered text parses back to the same record.
"""

from __future__ import annotations

import contextlib
import os
import sys

import pytest
from tracing_helpers import ADDRESS, assert_consistent

from cwm.core.schemas import CallFrame
from cwm.core.tokenizer.train import stdlib_dir
from cwm.data.corpora.harvest import directory_corpus
from cwm.data.trace import TraceConfig, TracePool, TraceTask, trace_in_process
from cwm.data.trace.reprs import value_repr
from cwm.data.trace.target import InvalidTask, prepare
from cwm.data.trace.workers.isolation import BoundedOutput

MODULES = [
    "textwrap.py",
    "colorsys.py",
    "fnmatch.py",
    "shlex.py",
    "bisect.py",
    "heapq.py",
    "base64.py",
]


@pytest.fixture(scope="module")
def tasks() -> list[TraceTask]:
    out: list[TraceTask] = []
    for name in MODULES:
        corpus = directory_corpus(
            str(stdlib_dir() / name), prefix=name[:-3], candidates_per_function=3, progress=False
        )
        out += list(corpus.tasks())
    return out


@contextlib.contextmanager
def quiet(task: TraceTask):
    """What a sandboxed task sees: stdin at /dev/null, output counted and dropped, no arguments."""
    saved = sys.stdin, sys.stdout, sys.stderr, sys.argv
    sys.stdin = open(os.devnull)  # noqa: SIM115
    sys.stdout = sys.stderr = BoundedOutput(10**12, print, [0])
    sys.argv = [task.module]
    try:
        yield
    finally:
        sys.stdin.close()
        sys.stdin, sys.stdout, sys.stderr, sys.argv = saved


def direct(task: TraceTask) -> tuple[str, str] | None:
    """What the call does without a tracer: ("returned"|"raised", repr); None if it cannot run."""
    with quiet(task):
        try:
            target = prepare(task.source, task.call, task.module, package=task.package)
        except InvalidTask:
            return None
        try:
            return "returned", value_repr(target.callee(*target.args, **target.kwargs), 10_000)
        except Exception as exc:
            return "raised", value_repr(exc, 10_000)
        finally:
            target.close()


def oracle(task: TraceTask) -> list[tuple[str, int]]:
    """(event, line) of every non-call event in the traced source, by a bare sys.settrace recorder."""
    seen: list[tuple[str, int]] = []
    with quiet(task):
        target = prepare(task.source, task.call, task.module, package=task.package)
        entered = False

        def local(frame, event, arg):  # type: ignore[no-untyped-def]
            seen.append((event, frame.f_lineno))
            return local

        def on_call(frame, event, arg):  # type: ignore[no-untyped-def]
            nonlocal entered
            entered = entered or frame.f_code is target.entry.__code__
            return local if entered and frame.f_code.co_filename == target.filename else None

        sys.settrace(on_call)
        try:
            target.callee(*target.args, **target.kwargs)
        except Exception:
            pass
        finally:
            sys.settrace(None)
            target.close()
    return seen


def test_results_agree_with_direct_calls(tasks):
    config = TraceConfig(max_seconds=2.0, cpu_seconds=2.0, tasks_per_process=32)
    with TracePool(config, workers=2) as pool:
        traces = list(pool.imap(tasks))
    checked = 0
    for task, trace in zip(tasks, traces):
        if trace.outcome not in ("returned", "raised"):
            continue
        assert_consistent(trace)
        first, second = direct(task), direct(task)
        if first is None or first != second:
            continue  # not deterministic (random, time): nothing to compare
        assert (trace.outcome, ADDRESS.sub("0x", trace.result)) == (
            first[0],
            ADDRESS.sub("0x", first[1]),
        ), task.call
        checked += 1
    assert checked >= 50


def test_every_action_is_the_line_that_ran(tasks):
    compared = 0
    for task in tasks[::3]:
        with quiet(task):
            trace = trace_in_process(task, TraceConfig(max_steps=5000))
        if trace.outcome not in ("returned", "raised") or trace.meta.get("printed_bytes"):
            continue
        ours = [
            (type(f).__name__[: -len("Frame")].lower(), f.lineno)
            for f in trace.frames
            if not isinstance(f, CallFrame)
        ]
        assert ours == oracle(task), task.call
        compared += 1
    assert compared >= 20
