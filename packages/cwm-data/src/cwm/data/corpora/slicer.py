"""The smallest piece of a module that still runs one of its functions.

A module's top-level statements each bind some names and use others. The slice
for a function is its own statement plus, transitively, every statement that
binds a name it uses (imports, constants, helpers, base classes), in their
original order and with their original text. Where a pure-Python definition is
later replaced by a C accelerator (``from _heapq import *``), the slice keeps
the Python one: that is the code worth tracing (an accelerator import that
defines nothing else the slice needs is left out with it). A class is pruned to the
members the slice can reach: its attributes, its dunder methods and the methods
named in what is kept.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

_BUILTINS = frozenset(dir(builtins))
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds (looking into if/try/with/for, not into functions)."""
    out: set[str] = set()

    def targets(node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                out.add(sub.id)

    def visit(node: ast.stmt) -> None:
        if isinstance(node, _DEFS):
            out.add(node.name)
        elif isinstance(node, ast.Import):
            out.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                targets(t)
        elif isinstance(node, ast.For | ast.AsyncFor):
            targets(node.target)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    targets(item.optional_vars)
        for field in ("body", "orelse", "finalbody", "handlers"):
            for child in getattr(node, field, ()):
                if isinstance(child, ast.ExceptHandler):
                    if child.name:
                        out.add(child.name)
                    for inner in child.body:
                        visit(inner)
                elif isinstance(child, ast.stmt) and not isinstance(node, _DEFS):
                    visit(child)

    visit(stmt)
    return out


def _used_names(node: ast.AST) -> set[str]:
    """Global names ``node`` reads: its free names, minus builtins (a function's locals are not)."""
    return _scan([node])[0] - _BUILTINS


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _free(node: ast.AST) -> set[str]:
    """Names read by ``node`` that it does not bind itself (Python's scoping, approximately)."""
    if isinstance(node, _SCOPES):
        a = node.args
        params = {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if p}
        body = node.body if isinstance(node.body, list) else [node.body]
        loads, stores, declared = _scan(body)
        return (loads - stores - params) | (loads & declared)
    assert isinstance(node, ast.ClassDef)
    loads, stores, _ = _scan(node.body)  # methods do not see class-level names, but
    return loads - stores  # this approximation (a class attribute shadowing a global) is rare


def _scan(body: list[ast.AST]) -> tuple[set[str], set[str], set[str]]:
    """Reads, writes and ``global``/``nonlocal`` names of a scope's statements (nested scopes folded in)."""
    loads: set[str] = set()
    stores: set[str] = set()
    declared: set[str] = set()
    stack = list(body)
    while stack:
        n = stack.pop()
        if isinstance(n, (*_SCOPES, ast.ClassDef)):
            if not isinstance(n, ast.Lambda):
                stores.add(n.name)
            loads |= _free(n)
            outer = [
                *getattr(n, "decorator_list", []),
                *getattr(n, "bases", []),
                *getattr(n, "keywords", []),
            ]
            if isinstance(n, _SCOPES):
                outer += [*n.args.defaults, *(d for d in n.args.kw_defaults if d is not None)]
            stack.extend(outer)
            continue
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else stores).add(n.id)
        elif isinstance(n, ast.Global | ast.Nonlocal):
            declared.update(n.names)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            stores.add(n.name)
        elif isinstance(n, ast.alias):
            stores.add(n.asname or n.name.split(".")[0])
        stack.extend(ast.iter_child_nodes(n))
    return loads, stores, declared


def _attr_names(node: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def _is_accelerator_import(stmt: ast.stmt) -> bool:
    """``from _module import ...`` (or a try/except around one): a C replacement of Python code."""
    nodes = [stmt] + (stmt.body if isinstance(stmt, ast.Try) else [])
    return any(
        isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("_") and not n.level
        for n in nodes
    )


def _start(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


@dataclass
class ModuleSlicer:
    """Slices one module: ``ModuleSlicer(source).function_slice(index_of_stmt)``."""

    source: str
    tree: ast.Module

    @classmethod
    def parse(cls, source: str) -> ModuleSlicer:
        return cls(source, ast.parse(source))

    def __post_init__(self) -> None:
        self.lines = self.source.split("\n")
        self.stmts = self.tree.body
        self.binds = [_bound_names(s) for s in self.stmts]
        self.uses = [_used_names(s) for s in self.stmts]
        self.binders: dict[str, list[int]] = {}
        self.definer: dict[str, int] = {}  # name -> the last def/class statement binding it
        for i, (stmt, names) in enumerate(zip(self.stmts, self.binds)):
            for name in names:
                self.binders.setdefault(name, []).append(i)
                if isinstance(stmt, _DEFS) and stmt.name == name:
                    self.definer[name] = i
        self._classes: dict[int, tuple[list[ast.stmt], dict[str, set[str]], set[str]]] = {}
        self.star = [
            i
            for i, s in enumerate(self.stmts)
            if isinstance(s, ast.ImportFrom)
            and any(a.name == "*" for a in s.names)
            and not _is_accelerator_import(s)
        ]

    def _providers(self, name: str) -> list[int]:
        if name in self.definer:  # a Python definition wins over a C accelerator's import
            return [self.definer[name]]
        return self.binders.get(name) or ([] if name in _BUILTINS else self.star)

    def needed(self, root: int, uses: set[str] | None = None) -> list[int]:
        """Indices of the statements the statement ``root`` needs, itself included."""
        keep = {root} | {
            i
            for i, s in enumerate(self.stmts)
            if isinstance(s, ast.ImportFrom) and s.module == "__future__"
        }
        queue = list(self.uses[root] if uses is None else uses)
        seen: set[str] = set()
        while queue:
            name = queue.pop()
            if name in seen:
                continue
            seen.add(name)
            for i in self._providers(name):
                if i not in keep:
                    keep.add(i)
                    queue.extend(self.uses[i])
        return sorted(keep)

    def text(self, index: int) -> str:
        node = self.stmts[index]
        return "\n".join(self.lines[_start(node) - 1 : node.end_lineno])

    def function_slice(self, index: int) -> str:
        """The slice for the top-level function (or whole class) at statement ``index``."""
        return "\n\n".join(self.text(i) for i in self.needed(index)) + "\n"

    def _members(self, index: int) -> tuple[list[ast.stmt], dict[str, set[str]], set[str]]:
        """A class's members, what each member names (per member name), and its def names."""
        cached = self._classes.get(index)
        if cached is None:
            cls = self.stmts[index]
            assert isinstance(cls, ast.ClassDef)
            members = [m for m in cls.body if not _is_docstring(m)]
            defs = {
                m.name for m in members if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            refs: dict[str, set[str]] = {}
            for i, m in enumerate(members):
                key = getattr(m, "name", f"#{i}") if isinstance(m, _DEFS) else f"#{i}"
                refs.setdefault(key, set()).update(_attr_names(m) | _used_names(m))
            cached = self._classes[index] = (members, refs, defs)
        return cached

    def method_slice(self, index: int, method: str) -> str | None:
        """The slice for a method of the class at ``index``: the class pruned to what it reaches."""
        cls = self.stmts[index]
        assert isinstance(cls, ast.ClassDef)
        members, refs, defs = self._members(index)
        if not members or members[0].lineno == cls.lineno or method not in defs:
            return None  # a one-line class has nothing to prune
        wanted = {method} | {d for d in defs if d.startswith("__") and d.endswith("__")}
        # class-level statements (``__add__, __radd__ = _operator_fallbacks(...)``) run at
        # class creation, so whatever they name is needed too
        queue = [n for key, names in refs.items() if key.startswith("#") for n in names & defs]
        queue += list(wanted)
        while queue:
            name = queue.pop()
            wanted.add(name)
            queue.extend(refs.get(name, set()) & defs - wanted)
        kept = [m for m in members if not isinstance(m, _DEFS) or m.name in wanted]
        uses = set().union(
            *(refs.get(getattr(m, "name", ""), set()) for m in kept if isinstance(m, _DEFS))
        )
        uses |= set().union(*(names for key, names in refs.items() if key.startswith("#")))
        uses |= _used_names(
            ast.Module(
                body=[ast.Expr(e) for e in [*cls.bases, *cls.decorator_list]], type_ignores=[]
            )
        )
        uses |= {n for k in cls.keywords for n in _used_names(k.value)}
        needed = self.needed(index, uses)
        header_end = _start(members[0]) - 1
        if _is_docstring(cls.body[0]):
            header_end = cls.body[0].lineno - 1
        header = "\n".join(self.lines[_start(cls) - 1 : header_end])
        body = "\n\n".join("\n".join(self.lines[_start(m) - 1 : m.end_lineno]) for m in kept)
        parts = [f"{header}\n{body}" if i == index else self.text(i) for i in needed]
        return "\n\n".join(parts) + "\n"


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )
