"""Tracer speed: frames per second, and our tracer's time over a no-op tracer of the same backend.

The no-op tracer is the mechanism's floor: the same backend (sys.settrace, or
sys.monitoring on 3.12+) delivering the same events for the same code (the
traced source only), with callbacks that do nothing. Ours records every frame
(locals as repr text, the Trace record) at default settings, which means the C
recorder where it is built; the pure-Python reference recorder is timed beside
it (``python_recorder_ms``). Workloads: real standard-library functions with
harvested inputs (the dataset's own kind of call), and three classic
algorithms. Goal: ours / no-op <= 3 at default settings.

Contenders take turns (best of interleaved runs), so load from other processes
on a shared machine hits all of them; the load average is recorded.

    uv run python benchmarks/bench_tracer.py            # results/tracer.json
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import best_of_interleaved, options, write_result

from cwm.core.tokenizer.train import stdlib_dir
from cwm.data.corpora.harvest import directory_corpus
from cwm.data.trace import TraceConfig, TraceTask, get_backend, has_monitoring, trace_in_process
from cwm.data.trace.accel import recorder_name
from cwm.data.trace.runner import TaskRun, run_prepared
from cwm.data.trace.target import InvalidTask, Target, prepare

STDLIB_MODULES = [
    "textwrap.py",
    "colorsys.py",
    "heapq.py",
    "bisect.py",
    "fractions.py",
    "statistics.py",
    "difflib.py",
    "shlex.py",
    "fnmatch.py",
    "calendar.py",
    "base64.py",
    "string.py",
]
STDLIB_LIMIT, REPEAT = 400, 7  # stdlib calls traced, interleaved rounds
ALGORITHMS = {
    "fib": ("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n", "fib(15)"),
    "bubble_sort": (
        "def bubble(xs):\n    xs = list(xs)\n    for i in range(len(xs)):\n        for j in range(len(xs) - i - 1):\n"
        "            if xs[j] > xs[j + 1]:\n                xs[j], xs[j + 1] = xs[j + 1], xs[j]\n    return xs\n",
        "bubble(range(40, 0, -1))",
    ),
    "word_count": (
        "def count(text):\n    counts = {}\n    for word in text.split():\n        w = word.strip('.,').lower()\n"
        "        counts[w] = counts.get(w, 0) + 1\n    return sorted(counts.items())\n",
        "count('the cat and the hat and the bat sat on the mat. ' * 8)",
    ),
}


def repeatable(task: TraceTask) -> bool:
    """Whether the call returns, prints nothing and leaves its arguments as they were (so it can be timed again)."""
    try:
        target = prepare(task.source, task.call, task.module, package=task.package)
    except InvalidTask:
        return False
    try:
        before = repr((target.args, target.kwargs))
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            first = repr(target.callee(*target.args, **target.kwargs))
            second = repr(target.callee(*target.args, **target.kwargs))
        return (
            first == second and repr((target.args, target.kwargs)) == before and not out.getvalue()
        )
    except Exception:
        return False
    finally:
        target.close()


def stdlib_calls() -> list[TraceTask]:
    """Calls of real stdlib functions whose traces run to the end (as the dataset keeps them)."""
    tasks: list[TraceTask] = []
    config = TraceConfig(max_steps=2000)
    for name in STDLIB_MODULES:
        corpus = directory_corpus(str(stdlib_dir() / name), prefix=name[:-3], progress=False)
        for task in corpus.tasks():
            if not repeatable(task):
                continue
            trace = trace_in_process(task, config)
            if trace.outcome == "returned" and len(trace.frames) >= 3:
                tasks.append(task)
    return tasks[:: max(1, len(tasks) // STDLIB_LIMIT)][:STDLIB_LIMIT]


def noop(backend: str, target: Target) -> Any:
    """Run the call under a tracer of ``backend`` that receives the same events and does nothing."""
    fn = target.filename
    if backend == "settrace":

        def local(frame: Any, event: str, arg: Any) -> Any:
            return local

        def on_call(frame: Any, event: str, arg: Any) -> Any:
            return local if frame.f_code.co_filename == fn else None

        sys.settrace(on_call)
        try:
            return target.callee(*target.args, **target.kwargs)
        finally:
            sys.settrace(None)
    mon = sys.monitoring
    ev, tool = mon.events, mon.DEBUGGER_ID
    local_events = ev.LINE | ev.JUMP | ev.PY_RETURN | ev.PY_YIELD | ev.STOP_ITERATION

    def start(code: Any, offset: int) -> Any:
        if code.co_filename != fn:
            return mon.DISABLE
        mon.set_local_events(tool, code, local_events)

    def nothing(*args: Any) -> None:
        return None

    mon.use_tool_id(tool, "noop")
    for event, cb in (
        (ev.PY_START, start),
        (ev.PY_RESUME, start),
        (ev.LINE, nothing),
        (ev.JUMP, nothing),
        (ev.PY_RETURN, nothing),
        (ev.PY_YIELD, nothing),
        (ev.RAISE, nothing),
        (ev.PY_UNWIND, nothing),
        (ev.STOP_ITERATION, nothing),
        (ev.PY_THROW, nothing),
    ):
        mon.register_callback(tool, event, cb)
    mon.restart_events()
    mon.set_events(tool, ev.PY_START | ev.PY_RESUME | ev.PY_THROW | ev.RAISE | ev.PY_UNWIND)
    try:
        return target.callee(*target.args, **target.kwargs)
    finally:
        mon.set_events(tool, 0)
        mon.free_tool_id(tool)


def measure(backend: str, tasks: list[TraceTask]) -> dict[str, Any]:
    config = TraceConfig(backend=backend)  # default settings: the C recorder where it is built
    python = TraceConfig(backend=backend, accelerate="python")
    prepared = [(t, prepare(t.source, t.call, t.module, package=t.package)) for t in tasks]
    frames = sum(len(run_prepared(TaskRun(t, config, p, backend)).frames) for t, p in prepared)

    def plain() -> None:
        for _, p in prepared:
            p.callee(*p.args, **p.kwargs)

    def floor() -> None:
        for _, p in prepared:
            noop(backend, p)

    def ours() -> None:
        for t, p in prepared:
            run_prepared(TaskRun(t, config, p, backend))

    def reference() -> None:
        for t, p in prepared:
            run_prepared(TaskRun(t, python, p, backend))

    times = best_of_interleaved(
        {"plain": plain, "noop": floor, "ours": ours, "python": reference}, repeat=REPEAT
    )
    t_plain, t_noop, t_ours, t_python = (times[k] for k in ("plain", "noop", "ours", "python"))
    for _, p in prepared:
        p.close()
    return {
        "calls": len(tasks),
        "frames": frames,
        "recorder": recorder_name(config.accelerate),
        "frames_per_s": round(frames / t_ours),
        "untraced_ms": round(t_plain * 1e3, 3),
        "noop_tracer_ms": round(t_noop * 1e3, 3),
        "ours_ms": round(t_ours * 1e3, 3),
        "ours_over_noop": round(t_ours / t_noop, 2),
        "noop_over_untraced": round(t_noop / t_plain, 2),
        "python_recorder_ms": round(t_python * 1e3, 3),
        "python_recorder_over_noop": round(t_python / t_noop, 2),
    }


def main() -> None:
    global STDLIB_LIMIT, REPEAT
    args = options(__doc__, "20 stdlib calls, one round")
    if args.quick:
        STDLIB_LIMIT, REPEAT = 20, 1
    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    workloads = {"stdlib_functions": stdlib_calls()}
    workloads |= {
        name: [TraceTask(id=name, source=s, call=c)] for name, (s, c) in ALGORITHMS.items()
    }
    backends = ["settrace"] + (["monitoring"] if has_monitoring() else [])
    results: dict[str, Any] = {}
    for backend in backends:
        get_backend(backend)
        results[backend] = {name: measure(backend, tasks) for name, tasks in workloads.items()}
    default = "monitoring" if has_monitoring() else "settrace"
    headline = results[default]["stdlib_functions"]["ours_over_noop"]
    name = (
        "tracer"
        if sys.version_info[:2] == (3, 11)
        else f"tracer-py{sys.version_info[0]}{sys.version_info[1]}"
    )
    write_result(
        name,
        {
            "backends": results,
            "default_backend": default,
            "headline": f"{default} on stdlib_functions: ours / no-op = {headline}",
            "goal": "ours_over_noop <= 3 at default settings",
            "passed": headline <= 3,
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "bench_seconds": round(time.perf_counter() - started, 1),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
