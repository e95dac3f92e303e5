"""The two tracer backends: chosen by Python version, and identical records where both run."""

from __future__ import annotations

import sys
import textwrap

import pytest
from tracing_helpers import assert_consistent, normalized, src

from cwm.core import protocols
from cwm.core.errors import CwmError
from cwm.core.plugins import registry
from cwm.data.corpora.slicer import ModuleSlicer
from cwm.data.trace import TraceConfig, TraceTask, resolve, trace_in_process

needs_monitoring = pytest.mark.skipif(
    sys.version_info < (3, 12),
    reason=f"sys.monitoring needs Python 3.12+; this is {sys.version.split()[0]}",
)

PROGRAMS = {
    "loops and calls": (
        "def g(x):\n    return x * 2\n\ndef f(n):\n    t = 0\n    for i in range(n):\n        t += g(i)\n    return t\n",
        "f(4)",
    ),
    "one-line loop": ("def f(n):\n    while n > 0: n -= 1\n    return n\n", "f(3)"),
    "generator and comprehension": (
        "def gen(n):\n    for i in range(n):\n        yield i\n\ndef f(n):\n    return [x * x for x in gen(n) if x]\n",
        "f(4)",
    ),
    "caught exception": (
        "def g(x):\n    raise KeyError(x)\n\ndef f():\n    try:\n        g(1)\n    except KeyError as e:\n        return repr(e)\n",
        "f()",
    ),
    "uncaught exception": ("def f(d):\n    return d['missing']\n", "f({})"),
    "reraise in finally": (
        "def f():\n    try:\n        1 / 0\n    finally:\n        x = 2\n",
        "f()",
    ),
    "generator close and throw": (
        src("""
        def g():
            try:
                yield 1
                yield 2
            finally:
                pass

        def f():
            it = g()
            next(it)
            try:
                it.throw(ValueError('v'))
            except ValueError:
                pass
            it2 = g()
            next(it2)
            del it2
            return 'done'
        """),
        "f()",
    ),
    "recursion": ("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n", "fib(5)"),
    "class body and closure": (
        "def f(k):\n    class C:\n        a = k\n    def h():\n        return C.a + k\n    return h()\n",
        "f(2)",
    ),
    "with statement": (
        "class Ctx:\n    def __enter__(self):\n        return 1\n    def __exit__(self, *a):\n        return True\n\ndef f():\n    with Ctx() as c:\n        raise ValueError(c)\n    return 'swallowed'\n",
        "f()",
    ),
}


def test_auto_picks_monitoring_exactly_on_312_and_later():
    assert resolve("auto") == ("monitoring" if sys.version_info >= (3, 12) else "settrace")
    assert resolve("settrace") == "settrace"
    with pytest.raises(CwmError, match="unknown tracer backend"):
        resolve("dtrace")


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="sys.monitoring exists here")
def test_monitoring_before_312_is_a_clear_error():
    with pytest.raises(CwmError, match=r"needs Python 3\.12"):
        registry("tracer").create("monitoring")


def test_tracers_are_plugins():
    assert {"settrace", "monitoring"} <= set(registry("tracer").names())
    tracer = registry("tracer").create("settrace", max_steps=100)
    assert isinstance(tracer, protocols.Tracer)  # what the kinds table promises
    trace = tracer.trace("def f(x):\n    return x * 2\n", "f(21)", sandbox=False)
    assert (trace.result, trace.tracer) == ("42", "settrace")


@needs_monitoring
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_monitoring_records_exactly_what_settrace_records(name):
    source, call = PROGRAMS[name]
    runs = [
        trace_in_process(TraceTask(id=name, source=source, call=call), TraceConfig(backend=b))
        for b in ("settrace", "monitoring")
    ]
    for trace in runs:
        assert_consistent(trace)
    settrace, monitoring = runs
    assert (settrace.outcome, settrace.result) == (monitoring.outcome, monitoring.result)
    assert normalized(settrace.frames) == normalized(monitoring.frames)


@needs_monitoring
def test_backends_agree_on_real_stdlib_code():
    slicer = ModuleSlicer.parse(__import__("inspect").getsource(textwrap))
    index = next(i for i, s in enumerate(slicer.stmts) if getattr(s, "name", None) == "TextWrapper")
    source = slicer.method_slice(index, "wrap")
    task = TraceTask(
        id="w",
        source=source,
        call="TextWrapper(width=12).wrap('The quick brown fox jumps')",
        module="textwrap",
    )
    settrace, monitoring = (
        trace_in_process(task, TraceConfig(backend=b)) for b in ("settrace", "monitoring")
    )
    assert len(settrace.frames) > 50
    assert normalized(settrace.frames) == normalized(monitoring.frames)
