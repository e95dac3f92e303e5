"""The C recorder records exactly what the pure-Python reference recorder records.

Every tracer test program, edge cases of the reuse rules (values changed in
place, deep inside containers, behind the limits) and a sample of real
standard-library tasks are traced with ``accelerate="python"`` and ``"c"`` under
every backend this Python has; the records must be equal. The C bounded repr
must give reprs.py's text for any value, and tracing must not leak.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_agreement import MODULES, quiet
from test_tracer_backends import PROGRAMS
from tracing_helpers import assert_consistent, normalized, src

from cwm.core.tokenizer.train import stdlib_dir
from cwm.data.corpora.harvest import directory_corpus
from cwm.data.trace import TraceConfig, TraceTask, trace_in_process
from cwm.data.trace.accel import MISSING
from cwm.data.trace.reprs import ATOMIC, local_repr, value_repr

try:
    from cwm.data.trace import _ctrace as ctrace
except ImportError:
    ctrace = None
# (test_ctrace_built fails when the extension is missing where it should be built)
pytestmark = pytest.mark.skipif(ctrace is None, reason=f"{MISSING}")
BACKENDS = ["settrace"] + (["monitoring"] if sys.version_info >= (3, 12) else [])

EDGE_PROGRAMS = {
    "lists and dicts changed in place": (
        """
        def f():
            xs = [1, 2]
            d = {'a': [1]}
            for i in range(3):
                xs.append(i)
                xs[0] = -i
                d['a'].append(i)
                d['b'] = (i, [i])
            xs.sort()
            return len(xs)
        """,
        "f()",
    ),
    "changes deep inside containers": (
        """
        def f():
            inner = [1]
            outer = ({'k': inner}, frozenset({1, 2}), {3})
            grid = [[0] * 3 for _ in range(3)]
            s = set()
            for i in range(3):
                inner.append(i)
                grid[i][i] = 1
                s.add(i)
                s.discard(i - 1)
            return outer
        """,
        "f()",
    ),
    "long containers past the limit": (
        """
        def f():
            xs = list(range(500))
            d = dict.fromkeys(range(300), 'v')
            t = tuple(range(400))
            for i in range(3):
                xs[i] = 'x' * 300
                xs[150] = i
                d[i] = i
                xs.pop()
            return len(xs)
        """,
        "f()",
    ),
    "objects that change type or repr": (
        """
        class A:
            pass

        class B:
            pass

        class R:
            def __init__(self):
                self.n = 0
            def __repr__(self):
                return f'R({self.n})'

        def f():
            a = A()
            r = R()
            box = [a, r]
            for i in range(3):
                r.n += 1
                a.__class__ = B if i % 2 else A
            return box
        """,
        "f()",
    ),
    "defaultdicts, sets, bound methods": (
        """
        from collections import defaultdict

        class C:
            def m(self):
                return 1

        def f(words):
            groups = defaultdict(list)
            seen = set()
            m = C().m
            for w in words:
                groups[w[0]].append(w)
                seen.add(w)
            return sorted(groups)
        """,
        "f(['ab', 'ac', 'b'])",
    ),
    "reprs that fail or are reserved": (
        """
        class Broken:
            def __repr__(self):
                raise ValueError('no')

        class Dots:
            def __repr__(self):
                return '..'

        def f():
            b = Broken()
            d = Dots()
            loop = [1]
            loop.append(loop)
            big = 10 ** 5000
            text = 'q' * 1000
            return d
        """,
        "f()",
    ),
    "exceptions through scopes": (
        """
        def inner(x):
            if x > 1:
                raise ValueError(x)
            return x

        def middle(x):
            try:
                return inner(x)
            finally:
                x = None

        def f():
            out = []
            for i in range(3):
                try:
                    out.append(middle(i))
                except ValueError as e:
                    out.append(repr(e))
            return out
        """,
        "f()",
    ),
    "generator resumed after the entry returned": (
        """
        import functools

        def gen():
            yield 1
            yield 2

        def after(fn):
            @functools.wraps(fn)
            def wrapper(*a):
                g = gen()
                r = fn(g)
                next(g)
                return r
            return wrapper

        @after
        def f(g):
            return next(g)
        """,
        "f()",
    ),
    "trace function saved and restored": (
        """
        import sys

        def g(x):
            return x + 1

        def f():
            sys.settrace(sys.gettrace())  # (a local holding it would show which recorder it is)
            y = g(1)
            return y
        """,
        "f()",
    ),
    "locals() between events, unbinding and rebinding": (
        """
        def f(n):
            a = 1
            b = [a]
            del a; snap = dict(locals()); a = 1  # the same object again
            for i in range(n):
                del b; b = locals().get('i'); c = i
            inner = [x * a for x in range(n)]
            return sorted(snap), b
        """,
        "f(3)",
    ),
    "lambdas, closures and nested comprehensions": (
        """
        def f(n):
            k = 2
            add = lambda v: v + k
            table = {i: [add(j) for j in range(i)] for i in range(n)}
            return sorted(table.items(), key=lambda kv: -len(kv[1]))
        """,
        "f(3)",
    ),
}

LIMITS = [
    {"max_steps": 17},
    {"max_trace_bytes": 600},
    {"max_repr": 7},
    {"max_repr": 0},
    {"scope": "entry"},
    {"include": ["textwrap.*"]},
]


def both(task: TraceTask, **config: object):
    """The task traced by the Python recorder and by the C recorder."""
    return [
        trace_in_process(task, TraceConfig(accelerate=accelerate, **config))  # type: ignore[arg-type]
        for accelerate in ("python", "c")
    ]


def assert_same(python, c) -> None:
    """Equal records (memory addresses blanked: the two runs allocate differently)."""
    assert normalized([c.outcome, c.result, c.error]) == normalized(
        [python.outcome, python.result, python.error]
    )
    assert normalized(c.frames) == normalized(python.frames)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(PROGRAMS) + list(EDGE_PROGRAMS))
def test_both_recorders_record_the_same_frames(name, backend):
    source, call = PROGRAMS.get(name) or EDGE_PROGRAMS[name]
    python, c = both(TraceTask(id=name, source=src(source), call=call), backend=backend)
    assert_consistent(c)
    assert_same(python, c)
    assert c.frames, name


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("limits", LIMITS, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
def test_both_recorders_agree_under_limits_and_scopes(limits, backend):
    for name, (source, call) in EDGE_PROGRAMS.items():
        task = TraceTask(id=name, source=src(source), call=call)
        assert_same(*both(task, backend=backend, **limits))
    task = TraceTask(
        id="include",
        source="import textwrap\ndef f(s):\n    return textwrap.fill(textwrap.dedent(s), 5)\n",
        call="f('  a b c d e')",
    )
    assert_same(*both(task, backend=backend, **limits))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("accelerate", ["python", "c"])
def test_a_leftover_generator_of_an_earlier_task_is_not_recorded(accelerate, backend):
    import builtins

    first = TraceTask(
        id="1",
        source="import builtins\ndef gen():\n    yield 1\n    yield 2\n\ndef keep():\n    g = gen()\n    next(g)\n    builtins.LEFT = [g]\n",
        call="keep()",
    )
    second = TraceTask(
        id="2",
        source="import builtins\ndef f():\n    builtins.LEFT.clear()\n    return 1\n",
        call="f()",
    )
    config = TraceConfig(accelerate=accelerate, backend=backend)
    try:
        assert trace_in_process(first, config).outcome == "returned"
        trace = trace_in_process(second, config)  # closes the first task's generator
    finally:
        builtins.__dict__.pop("LEFT", None)
    assert [f.lineno for f in trace.frames] == [2, 3, 4, 4]  # f's own frames only


def test_time_limit_truncates_both_alike():
    task = TraceTask(
        id="t", source="def f():\n    i = 0\n    while True:\n        i += 1\n", call="f()"
    )
    python, c = both(task, max_seconds=0.05, max_steps=10**9, max_trace_bytes=10**12)
    assert python.outcome == c.outcome == "truncated"
    assert python.error == c.error and c.error.startswith("max_seconds")


@pytest.fixture(scope="module")
def stdlib_tasks() -> list[TraceTask]:
    tasks: list[TraceTask] = []
    for name in MODULES:
        corpus = directory_corpus(
            str(stdlib_dir() / name), prefix=name[:-3], candidates_per_function=2, progress=False
        )
        tasks += list(corpus.tasks())
    return tasks


@pytest.mark.parametrize("backend", BACKENDS)
def test_both_recorders_agree_on_real_stdlib_tasks(stdlib_tasks, backend):
    compared = 0
    for task in stdlib_tasks[::2]:
        with quiet(task):
            python, again, c = (
                trace_in_process(task, TraceConfig(backend=backend, accelerate=a, max_steps=3000))
                for a in ("python", "python", "c")
            )
        if normalized(python.frames) != normalized(again.frames):
            continue  # not deterministic (time, random, memory addresses in a repr)
        assert_same(python, c)
        compared += 1
    assert compared >= 40


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.binary(max_size=30)
    | st.sampled_from(["'", '"', "'\"", "x" * 300, "..", int, len]),
    lambda inner: (
        st.lists(inner, max_size=80)
        | st.lists(inner, max_size=5).map(tuple)
        | st.dictionaries(st.integers() | st.text(max_size=5), inner, max_size=30)
        | st.sets(st.integers() | st.text(max_size=8), max_size=40)
        | st.frozensets(st.integers(), max_size=40)
    ),
    max_leaves=200,
)


@settings(max_examples=400, deadline=None)
@given(value=VALUES, limit=st.sampled_from([0, 1, 2, 3, 5, 20, 80, 200, 10_000]))
def test_c_reprs_are_the_python_reprs(value, limit):
    assert ctrace.value_repr(value, limit) == value_repr(value, limit)
    assert ctrace.value_repr(value, limit, True) == local_repr(value, limit)


NUMBERS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-10, 2000)
    | st.floats()
    | st.sampled_from([0.0, -0.0, 0.1, 1e300, float("inf")])
    | st.complex_numbers()
)
HASHABLE_NUMBERS = st.integers(-10, 2000) | st.floats(allow_nan=False) | st.booleans()


@settings(max_examples=300, deadline=None)
@given(
    value=st.lists(NUMBERS, max_size=100)
    | st.lists(NUMBERS, max_size=3).map(tuple)
    | st.sets(HASHABLE_NUMBERS, max_size=100)
    | st.frozensets(HASHABLE_NUMBERS, max_size=20)
    | st.dictionaries(HASHABLE_NUMBERS, NUMBERS, max_size=100)
    | NUMBERS
)
def test_c_reprs_of_numbers_are_repr(value):
    # the C recorder writes numbers (and flat containers of them) from texts it keeps
    for _ in range(2):  # the second time from those kept texts
        assert ctrace.value_repr(value, 10**6) == repr(value)
        for limit in (5, 20, 200):  # and the first items of long ones
            assert ctrace.value_repr(value, limit) == value_repr(value, limit)


def test_c_reprs_of_unusual_values():
    class Broken:
        def __repr__(self) -> str:
            raise ValueError("no")

    class Endless:
        def __repr__(self) -> str:
            return repr(self)

    loop: list = [1]
    loop.append(loop)
    mapping: dict = {}
    mapping["self"] = mapping
    long_loop = [*range(200), loop]
    long_loop.append(long_loop)
    for value in [
        Broken(),
        Endless(),
        10**5000,
        [Broken()],
        {1: Endless()},
        loop,
        mapping,
        long_loop,
        bytearray(b"x" * 500),
        ["a" * 10**6, list(range(10**5))],
    ]:
        for limit in (10, 80, 200, 5000):
            assert ctrace.value_repr(value, limit) == value_repr(value, limit)


def test_the_c_atomic_types_are_reprs_ATOMIC():
    candidates = ATOMIC | {list, dict, set, frozenset, tuple, bytearray, object, bool}
    assert ctrace.atomic_types(candidates) == ATOMIC


def test_tracing_leaks_neither_memory_nor_references():
    task = TraceTask(
        id="leak", source=src(EDGE_PROGRAMS["changes deep inside containers"][0]), call="f()"
    )
    sentinel = object()
    keep = TraceTask(id="keep", source="def f(x):\n    y = [x]\n    return len(y)\n", call="f(S)")
    configs = [TraceConfig(accelerate="c", backend=b) for b in BACKENDS]

    def work(n: int) -> None:
        for _ in range(n):
            for config in configs:
                trace_in_process(task, config)
                trace_in_process(keep, TraceConfig(accelerate="c", max_steps=2))

    import builtins

    builtins.S = sentinel  # type: ignore[attr-defined]
    try:
        work(20)
        gc.collect()
        refs = sys.getrefcount(sentinel)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        work(300)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    finally:
        del builtins.S  # type: ignore[attr-defined]
    assert sys.getrefcount(sentinel) == refs - 1  # only builtins.S let go of it
    assert grown < 64_000, f"{grown} bytes still allocated after 300 more traces"
