"""What the tracer records, checked frame by frame on small real programs (in-process runs)."""

from __future__ import annotations

import sys

import pytest
from tracing_helpers import assert_consistent, src

from cwm.core.schemas import CallFrame, ExceptionFrame, ReturnFrame
from cwm.data.trace import DOTS_REPR, TraceConfig, TraceTask, trace_in_process


def run(source: str, call: str, **config: object):
    trace = trace_in_process(
        TraceTask(id="t", source=src(source), call=call), TraceConfig(**config)
    )
    assert_consistent(trace)
    return trace


def kinds(trace) -> str:
    return "".join(type(f).__name__[0] for f in trace.frames)  # C L R E


def test_a_simple_call_records_arguments_lines_and_the_return_value():
    trace = run(
        """
        def f(n, items):
            total = n
            for v in items:
                total += v
            return total
        """,
        "f(1, [2, 3])",
    )
    assert (trace.outcome, trace.result, trace.entry, trace.entry_line) == ("returned", "6", "f", 1)
    assert kinds(trace) == "CLLLLLLLR"
    call, *_, ret = trace.frames
    assert call == CallFrame(
        line="def f(n, items):", lineno=1, locals={"n": "1", "items": "[2, 3]"}
    )
    assert ret == ReturnFrame(line="    return total", lineno=5, value="6")
    assert [f.lineno for f in trace.frames] == [1, 2, 3, 4, 3, 4, 3, 5, 5]
    assert trace.frames[4].locals == {"n": "1", "items": "[2, 3]", "total": "3", "v": "2"}


def test_callees_are_their_own_scopes_and_recursion_nests():
    trace = run(
        """
        def fact(n):
            if n <= 1:
                return 1
            return n * fact(n - 1)
        """,
        "fact(3)",
    )
    assert trace.result == "6"
    calls = [f.locals["n"] for f in trace.frames if isinstance(f, CallFrame)]
    returns = [f.value for f in trace.frames if isinstance(f, ReturnFrame)]
    assert calls == ["3", "2", "1"] and returns == ["1", "2", "6"]


def test_generators_open_a_scope_per_resume():
    trace = run(
        """
        def squares(n):
            for i in range(n):
                yield i * i

        def total(n):
            return sum(squares(n))
        """,
        "total(2)",
    )
    assert trace.result == "1"
    resumes = [f for f in trace.frames if isinstance(f, CallFrame) and f.lineno in (1, 3)]
    assert [f.lineno for f in resumes] == [
        1,
        3,
        3,
    ]  # the first start at the def, resumes at the yield
    yields = [f.value for f in trace.frames if isinstance(f, ReturnFrame) and f.lineno == 3]
    assert yields == ["0", "1"]
    entry = trace.frames[0]  # the entry's own call frame
    assert isinstance(entry, CallFrame) and entry.line.strip() == "def total(n):"


def test_a_caught_exception_unwinds_the_callee_and_is_handled_by_the_caller():
    trace = run(
        """
        def check(x):
            if x < 0:
                raise ValueError(x)
            return x

        def safe(x):
            try:
                return check(x)
            except ValueError:
                return 0
        """,
        "safe(-2)",
    )
    assert (trace.outcome, trace.result) == ("returned", "0")
    assert kinds(trace) == "CLLCLLEREL" + "LR"
    raised, unwound, seen = trace.frames[6], trace.frames[7], trace.frames[8]
    assert raised == ExceptionFrame(
        line="        raise ValueError(x)", lineno=3, value="ValueError(-2)"
    )
    assert unwound == ReturnFrame(line="        raise ValueError(x)", lineno=3, value="None")
    assert seen == ExceptionFrame(line="        return check(x)", lineno=8, value="ValueError(-2)")


def test_an_uncaught_exception_ends_the_trace_with_the_entry_unwinding():
    trace = run(
        """
        def div(a, b):
            return a / b
        """,
        "div(1, 0)",
    )
    assert (trace.outcome, trace.result) == ("raised", "ZeroDivisionError('division by zero')")
    assert isinstance(trace.frames[-2], ExceptionFrame)
    assert trace.frames[-1] == ReturnFrame(line="    return a / b", lineno=2, value="None")
    assert trace.ended


def test_sys_exit_is_a_raised_SystemExit():
    trace = run("import sys\ndef f():\n    sys.exit(3)\n", "f()")
    assert (trace.outcome, trace.result) == ("raised", "SystemExit(3)")


def test_closures_class_bodies_and_comprehensions():
    trace = run(
        """
        def outer(k):
            scale = k

            def inner(x):
                return x * scale

            class Box:
                size = 2

            return [inner(v) for v in range(Box.size)]
        """,
        "outer(3)",
    )
    assert trace.result == "[0, 3]"
    inner_calls = [f for f in trace.frames if isinstance(f, CallFrame) and f.lineno == 4]
    assert inner_calls[0].locals == {"x": "0", "scale": "3"}  # a closure's free variable is a local
    box = next(f for f in trace.frames if isinstance(f, CallFrame) and f.lineno == 7)
    assert box.locals == {}  # class-body bookkeeping (__module__, __qualname__) is hidden
    if sys.version_info < (3, 12):  # comprehensions are their own function before PEP 709
        comp = next(f for f in trace.frames if isinstance(f, CallFrame) and f.lineno == 10)
        assert ".0" not in comp.locals


def test_a_decorated_entry_is_marked_at_its_def_line():
    trace = run(
        """
        import functools

        @functools.lru_cache(maxsize=None)
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)
        """,
        "fib(4)",
    )
    assert trace.entry_line == 4 and trace.frames[0].line == "def fib(n):"
    assert trace.result == "3"


def test_methods_and_constructors_resolve_to_their_function():
    source = """
        class Stack:
            def __init__(self, items):
                self.items = list(items)

            def push(self, x):
                self.items.append(x)
                return len(self.items)
        """
    pushed = run(source, "Stack([1]).push(5)")
    assert (pushed.entry, pushed.entry_line, pushed.result) == ("Stack.push", 5, "2")
    built = run(source, "Stack('ab')")
    assert built.entry == "Stack.__init__" and built.frames[0].locals["items"] == "'ab'"


def test_scope_entry_records_only_the_entry_activation():
    source = "def g(x):\n    return x + 1\n\ndef f(x):\n    return g(x) * 2\n"
    assert kinds(run(source, "f(1)")) == "CLCLRR"
    assert kinds(run(source, "f(1)", scope="entry")) == "CLR"


def test_include_globs_trace_into_other_modules():
    trace = run(
        "import textwrap\ndef f(s):\n    return textwrap.dedent(s)\n",
        "f('  a')",
        include=["textwrap.dedent"],
    )
    foreign = [f for f in trace.frames if f.lineno is None]
    assert foreign and foreign[0].line.startswith("def dedent(")  # the stdlib's own source line
    assert trace.result == "'a'"


def test_a_local_whose_repr_is_dots_is_recorded_differently():
    trace = run(
        "class D:\n    def __repr__(self):\n        return '..'\n\ndef f():\n    d = D()\n    return 1\n",
        "f()",
    )
    assert DOTS_REPR in trace.frames[-2].locals.values()


@pytest.mark.parametrize(
    ("limit", "reason"),
    [
        ({"max_steps": 50}, "max_steps"),
        ({"max_trace_bytes": 2000}, "max_trace_bytes"),
        ({"max_seconds": 0.2, "max_steps": 10**9, "max_trace_bytes": 10**12}, "max_seconds"),
    ],
)
def test_limits_truncate_and_keep_the_frames(limit, reason):
    trace = run("def f():\n    i = 0\n    while True:\n        i += 1\n", "f()", **limit)
    assert trace.outcome == "truncated" and trace.error.startswith(reason)
    assert trace.frames and not trace.ended
    if reason == "max_steps":
        assert len(trace.frames) == 50


@pytest.mark.parametrize(
    ("source", "call", "error"),
    [
        ("def f(:\n", "f()", "syntax error in the source: line 1"),
        ("def f():\n    return 1\n", "g()", "names a function the source lacks"),
        ("def f():\n    return 1\n", "f(", "is not a Python expression"),
        ("def f():\n    return 1\n", "f", "must be a call expression"),
        ("def f():\n    return 1\n", "len([1])", "not a Python function of the source"),
        ("def f():\n    yield 1\n", "f()", "generator"),
        (
            "raise RuntimeError('at import')\ndef f():\n    return 1\n",
            "f()",
            "running the source as a module raised",
        ),
        ("def f(x):\n    return 1\n", "f(1 / 0)", "evaluating the arguments"),
    ],
)
def test_bad_tasks_are_invalid_with_one_line_reasons(source, call, error):
    trace = trace_in_process(TraceTask(id="bad", source=source, call=call))
    assert trace.outcome == "invalid" and error in trace.error and "\n" not in trace.error
