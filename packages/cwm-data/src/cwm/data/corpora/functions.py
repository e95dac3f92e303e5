"""Finding the functions of a module worth tracing, and how to call each.

Candidates are top-level functions, the methods of top-level classes (called on
a new instance), their static and class methods, and ``__init__`` (called by
constructing the class). Generator, async and property functions are skipped:
calling one runs none of its code. Each comes with its dependency slice
(`cwm.data.corpora.slicer`) as the task source.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Literal

from cwm.data.corpora.inputs.usage import used_as, uses_string_methods
from cwm.data.corpora.modules import Module
from cwm.data.corpora.scopes import scope_nodes
from cwm.data.corpora.slicer import ModuleSlicer

Kind = Literal["function", "method", "static", "classmethod", "init"]
_SKIP_DECORATORS = {
    "property",
    "setter",
    "getter",
    "deleter",
    "abstractmethod",
    "overload",
    "contextmanager",
    "asynccontextmanager",
    "cached_property",
    "singledispatchmethod",
}


@dataclass(frozen=True)
class Param:
    name: str
    annotation: ast.expr | None
    default: ast.expr | None  # None: required
    keyword_only: bool = False
    #: how the body uses it (`cwm.data.corpora.inputs.usage`): the kind of value it must
    #: be, and whether it calls methods that strings and bytes share on it
    used_as: str | None = None
    string_methods: bool = False

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass
class Function:
    module: Module
    qualname: str  # "dedent", "TextWrapper.wrap"
    kind: Kind
    params: list[Param]
    ctor_params: list[Param] | None  # __init__'s, for methods called on an instance
    source: str  # the slice: what the task runs as its module

    @property
    def key(self) -> str:
        return f"{self.module.name}.{self.qualname}"

    @property
    def class_name(self) -> str:
        return self.qualname.split(".")[0]

    def call(self, args: str, ctor: str | None = None) -> str:
        """The call expression that runs this function with ``args`` (source text)."""
        name = self.qualname.split(".")[-1]
        if self.kind == "function":
            return f"{name}({args})"
        if self.kind == "init":
            return f"{self.class_name}({args})"
        if self.kind in ("static", "classmethod"):
            return f"{self.class_name}.{name}({args})"
        return f"{self.class_name}({ctor or ''}).{name}({args})"


def _decorator_names(node: ast.FunctionDef | ast.ClassDef) -> set[str]:
    out = set()
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        out.add(target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", ""))
    return out


def _is_generator(node: ast.FunctionDef) -> bool:
    return any(isinstance(n, ast.Yield | ast.YieldFrom) for n in scope_nodes(node.body))


def params_of(node: ast.FunctionDef, drop_first: bool) -> list[Param] | None:
    """The parameters a call must or may fill; None if it needs ``*args``-only plumbing."""
    a = node.args
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(
        a.defaults
    )
    named = [(p, d, False) for p, d in zip(positional, defaults)]
    if drop_first:
        if not named:
            return None
        named = named[1:]
    named += [(p, d, True) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    return [
        Param(
            p.arg,
            p.annotation,
            d,
            keyword_only=kw,
            used_as=used_as(node, p.arg),
            string_methods=uses_string_methods(node, p.arg),
        )
        for p, d, kw in named
    ]


def module_functions(module: Module, slicer: ModuleSlicer, max_lines: int) -> list[Function]:
    """The traceable functions of one module, each with its slice (at most ``max_lines`` long)."""
    out: list[Function] = []
    for index, stmt in enumerate(slicer.stmts):
        if isinstance(stmt, ast.FunctionDef):
            if _is_generator(stmt) or _decorator_names(stmt) & _SKIP_DECORATORS:
                continue
            params = params_of(stmt, drop_first=False)
            if params is None:
                continue
            text = slicer.function_slice(index)
            if text.count("\n") <= max_lines:
                out.append(Function(module, stmt.name, "function", params, None, text))
        elif isinstance(stmt, ast.ClassDef):
            out += _class_functions(module, slicer, index, stmt, max_lines)
    return out


def _class_functions(
    module: Module, slicer: ModuleSlicer, index: int, cls: ast.ClassDef, max_lines: int
) -> list[Function]:
    methods = [m for m in cls.body if isinstance(m, ast.FunctionDef)]
    init = next((m for m in methods if m.name == "__init__"), None)
    ctor_params = params_of(init, drop_first=True) if init else []
    out: list[Function] = []
    for m in methods:
        decorators = _decorator_names(m)
        if _is_generator(m) or decorators & _SKIP_DECORATORS:
            continue
        if m.name.startswith("__") and m.name.endswith("__") and m.name != "__init__":
            continue  # reached through operators and builtins, not a call expression
        kind: Kind
        if "staticmethod" in decorators:
            kind, params = "static", params_of(m, drop_first=False)
        elif "classmethod" in decorators:
            kind, params = "classmethod", params_of(m, drop_first=True)
        elif m.name == "__init__":
            kind, params = "init", ctor_params
        else:
            kind, params = "method", params_of(m, drop_first=True)
        if params is None or (kind == "method" and ctor_params is None):
            continue
        text = slicer.method_slice(index, m.name)
        if text is not None and text.count("\n") <= max_lines:
            out.append(Function(module, f"{cls.name}.{m.name}", kind, params, ctor_params, text))
    return out
