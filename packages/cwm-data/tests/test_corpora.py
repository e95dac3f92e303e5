"""Harvesting real functions: dependency slices, call sites, doctests, synthesized inputs."""

from __future__ import annotations

import ast
import inspect
import json
import random
import stat
import textwrap
from pathlib import Path

from tracing_helpers import src

from cwm.core.plugins import registry
from cwm.data.corpora.functions import module_functions, params_of
from cwm.data.corpora.harvest import directory_corpus
from cwm.data.corpora.inputs.callsites import Site, SiteIndex
from cwm.data.corpora.inputs.generate import _pool, candidates
from cwm.data.corpora.inputs.values import POOLS, mutate, pools_for_hint, pools_for_name
from cwm.data.corpora.modules import Module
from cwm.data.corpora.registry import from_spec
from cwm.data.corpora.slicer import ModuleSlicer
from cwm.data.trace import TraceTask, trace_in_process


def slice_of(module, name: str, method: str | None = None) -> str:
    slicer = ModuleSlicer.parse(inspect.getsource(module))
    index = next(i for i, s in enumerate(slicer.stmts) if getattr(s, "name", None) == name)
    return slicer.method_slice(index, method) if method else slicer.function_slice(index)


def test_a_function_slice_is_real_code_that_runs_alone():
    text = slice_of(textwrap, "dedent")
    assert (
        "def dedent(text):" in text
        and "_whitespace_only_re" in text
        and "class TextWrapper" not in text
    )
    trace = trace_in_process(
        TraceTask(id="d", source=text, call="dedent('  a\\n  b')", module="textwrap")
    )
    assert (trace.outcome, trace.result) == ("returned", repr(textwrap.dedent("  a\n  b")))


def test_a_slice_keeps_python_code_that_a_c_accelerator_would_replace():
    import heapq

    text = slice_of(heapq, "nsmallest")
    assert "from _heapq import" not in text and "def _heapify_max" in text
    trace = trace_in_process(
        TraceTask(id="h", source=text, call="nsmallest(2, [5, 1, 4, 2])", module="heapq")
    )
    assert trace.result == "[1, 2]" and len(trace.frames) > 10


def test_a_method_slice_prunes_the_class_to_what_the_method_reaches():
    text = slice_of(textwrap, "TextWrapper", "wrap")
    for needed in ("def wrap(", "def _wrap_chunks(", "def _split(", "def __init__("):
        assert needed in text
    assert "def indent(" not in text  # a module function the class never uses
    trace = trace_in_process(
        TraceTask(
            id="w", source=text, call="TextWrapper(width=6).wrap('ab cd ef')", module="textwrap"
        )
    )
    assert trace.result == repr(textwrap.TextWrapper(width=6).wrap("ab cd ef"))


def test_call_sites_follow_imports_constants_instances_and_doctests():
    code = src('''
        """Module doc.

        >>> helpers.double(21)
        42
        """
        import helpers
        from helpers import Counter as C

        def check():
            word = "hello"
            helpers.double(word)
            c = C(start=2)
            c.add(3, step=word)
            helpers.double(len(word))   # not a literal: skipped
            C(1).add(1)
        ''')
    index = SiteIndex(
        {"helpers.double", "helpers.Counter", "helpers.Counter.add"}, {"helpers.Counter"}
    )
    index.scan(ast.parse(code), "user", "")
    assert set(index.of("helpers.double")) == {Site("'hello'"), Site("21", None, "doctest")}
    assert set(index.of("helpers.Counter.add")) == {
        Site("3, step='hello'", "start=2"),
        Site("1", "1"),
    }
    assert index.of("helpers.Counter") == [Site("start=2"), Site("1")]


def test_synthesized_values_follow_hints_and_names():
    assert "0" in pools_for_hint(ast.parse("int", mode="eval").body)
    assert "None" in pools_for_hint(ast.parse("str | None", mode="eval").body)
    assert "[1, 2, 3, 4, 5]" in pools_for_hint(ast.parse("list[int]", mode="eval").body)
    assert (
        "'abc'" in pools_for_name("text")
        and "3" in pools_for_name("width")
        and "True" in pools_for_name("is_valid")
    )


def test_synthesized_values_follow_how_the_body_uses_a_parameter():
    fn = ast.parse(
        src("""
        def f(mode, data, table, name, words, line, n, raw, s, flags, buf, item):
            if mode & 0o170000 == 0o040000:
                return data.decode()
            name = str(name)
            name.encode()  # the name holds another value by now: says nothing
            for key, value in table.items():
                pass
            words & {1}  # sets take & too
            line.split()  # a string or bytes: only a hint, weaker than the name
            raw.strip()
            s = s.decode()  # the value is read before the name is bound anew
            flags &= 0xFF
            buf.startswith(b"\\x1f")  # a bytes literal argument tells
            [item.decode() for item in words]  # another variable, in its own scope
            return n << 2, raw.decode()  # ... unless another use tells
        """)
    ).body[0]
    params = params_of(fn, drop_first=False)  # type: ignore[arg-type]
    assert params is not None
    assert {p.name: p.used_as for p in params} == {
        "mode": "int",
        "data": "bytes",
        "table": "dict",
        "name": None,
        "words": None,
        "line": None,
        "n": "int",
        "raw": "bytes",
        "s": "bytes",
        "flags": "int",
        "buf": "bytes",
        "item": None,
    }
    assert [p.name for p in params if p.string_methods] == ["line", "raw", "buf"]
    # the string-method hint ranks after the name: bytes for `buf`, strings for `thing`
    hinted = ast.parse("def g(buf, thing):\n    buf.split(); thing.strip()").body[0]
    buf, thing = params_of(hinted, drop_first=False) or []  # type: ignore[arg-type]
    assert _pool(buf)[1] == "name" and _pool(buf)[0][0].startswith("b'")
    assert _pool(thing) == (POOLS["str"], "usage")
    # a real function whose parameter's name suggests a string: its inputs are ints now
    (s_imode,) = [
        f
        for f in module_functions(
            Module("stat", Path(stat.__file__), False),
            ModuleSlicer.parse(inspect.getsource(stat)),
            20,
        )
        if f.qualname == "S_IMODE"
    ]
    call, origin = candidates(s_imode, [], [], 1, seed=0)[0]
    assert origin == "usage"
    task = TraceTask(id="s", source=s_imode.source, call=call, module="stat")
    assert trace_in_process(task).outcome == "returned"


def test_mutations_stay_literal_and_change_something():
    rng = random.Random(0)
    for args in ["'a b c', 3", "[1, 2, 3]", "{'k': 1}, strict=True", "2.5, b'xy'"]:
        for _ in range(20):
            new = mutate(args, rng)
            if new is not None:
                assert new != args
                call = ast.parse(f"f({new})", mode="eval").body
                [ast.literal_eval(a) for a in call.args] + [
                    ast.literal_eval(k.value) for k in call.keywords
                ]


def test_directory_corpus_turns_functions_into_tasks(tmp_path):
    pkg = tmp_path / "geometry"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "shapes.py").write_text(
        src('''
        import math

        def area(radius: float) -> float:
            """Area of a circle.

            >>> area(2.0)
            12.566370614359172
            """
            return math.pi * radius ** 2

        class Square:
            def __init__(self, side):
                self.side = side

            def scaled(self, factor):
                return Square(self.side * factor).side

        def _squares(n):
            yield from range(n)
        ''')
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_shapes.py").write_text(
        "from geometry.shapes import Square\nSquare(3).scaled(2)\n"
    )
    corpus = directory_corpus(
        str(pkg), prefix="geometry", tests=str(tmp_path / "tests"), progress=False
    )
    keys = sorted(f.key for f in corpus.functions())
    assert keys == [
        "geometry.shapes.Square.__init__",
        "geometry.shapes.Square.scaled",
        "geometry.shapes.area",
    ]
    tasks = list(corpus.tasks())
    by_origin = {(t.meta["function"], t.meta["inputs"]): t.call for t in tasks}
    assert by_origin[("geometry.shapes.area", "doctest")] == "area(2.0)"
    assert by_origin[("geometry.shapes.Square.scaled", "callsite")] == "Square(3).scaled(2)"
    trace = trace_in_process(next(t for t in tasks if t.call == "area(2.0)"))
    assert trace.result == "12.566370614359172" and trace.meta["function"] == "geometry.shapes.area"


def test_module_functions_skip_what_a_call_cannot_run():
    code = "class A:\n    @property\n    def p(self):\n        return 1\n\n    async def q(self):\n        return 2\n\ndef g():\n    yield 1\n"
    functions = module_functions(Module("m", None, False), ModuleSlicer.parse(code), 100)  # type: ignore[arg-type]
    assert functions == []


def test_corpora_are_plugins(tmp_path):
    assert {"stdlib", "package", "directory", "jsonl", "pytest"} <= set(registry("corpus").names())
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        json.dumps({"id": "x", "source": "def f(a):\n    return a\n", "call": "f(1)"}) + "\nnope\n"
    )
    items = list(from_spec(f"jsonl:{tasks}").tasks())
    assert items[0].meta["function"] == "snippet.f" and items[1].outcome == "invalid"
