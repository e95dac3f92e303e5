"""Arguments real code passes to a function: call sites and doctest examples.

`SiteIndex.scan` reads one module (or test file) and records, for every call of
a known function whose arguments are all literals (after substituting names
bound once to a literal in the same scope), the argument text. It follows
``import``/``from ... import`` aliases, calls on a fresh instance
(``TextWrapper(width=5).wrap(s)``) and on a name bound once to one
(``w = TextWrapper(width=5); w.wrap(s)``). Doctest examples in docstrings are
scanned the same way.
"""

from __future__ import annotations

import ast
import doctest
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass

from cwm.data.corpora.inputs.literals import Constants, arguments

#: modules that are imported under one name but defined in another file
ALIASES = {"os.path": "posixpath"}
MAX_SITES = 48  # per function


@dataclass(frozen=True)
class Site:
    args: str  # the argument list as source text: "'a b', 5, width=3"
    ctor: str | None = None  # constructor arguments, for a method called on a new instance
    origin: str = "callsite"  # or "doctest"


def import_map(tree: ast.Module, module: str, package: str) -> dict[str, str]:
    """Local name -> dotted name it refers to, for a module's imports and its own definitions."""
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = f"{module}.{node.name}"
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    names[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - node.level + 1] if node.level > 1 else parts
                base = ".".join(p for p in [*parts, node.module or ""] if p)
            for a in node.names:
                if a.name != "*":
                    names[a.asname or a.name] = f"{base}.{a.name}"
    return names


#: the fields that hold statements: imports and definitions are only found there
_BODIES = frozenset({"body", "orelse", "finalbody", "handlers", "cases"})


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The statements (and except handlers, match cases) under ``body``, nested ones too,
    in `ast.walk`'s order but without visiting expressions: a fraction of the nodes."""
    queue = deque(body)
    while queue:
        node = queue.popleft()
        yield node
        for name in node._fields:
            if name in _BODIES:
                queue.extend(getattr(node, name))


def _dotted(node: ast.expr, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        found = names.get(node.id)
    elif isinstance(node, ast.Attribute):
        base = _dotted(node.value, names)
        found = f"{base}.{node.attr}" if base else None
    else:
        return None
    if found:
        for alias, real in ALIASES.items():
            if found == alias or found.startswith(alias + "."):
                return real + found[len(alias) :]
    return found


class SiteIndex:
    """Call sites of the functions in ``targets`` (dotted names: ``m.f``, ``m.C``, ``m.C.meth``)."""

    def __init__(self, targets: set[str], classes: set[str]):
        self.targets, self.classes = targets, classes
        #: the names of the target methods: a call ``x.name(...)`` of another name is none
        self.methods = {t.rpartition(".")[2] for t in targets if t.rpartition(".")[0] in classes}
        self.sites: dict[str, dict[Site, None]] = defaultdict(dict)

    def of(self, key: str) -> list[Site]:
        return list(self.sites.get(key, ()))

    def merge(self, partial: dict[str, list[Site]]) -> None:
        """Add the sites another index found (in another process)."""
        for key, sites in partial.items():
            for site in sites:
                self._add(key, site)

    def scan(self, tree: ast.Module, module: str, package: str) -> None:
        names = import_map(tree, module, package)
        self._body(tree.body, _Scope(tree.body), names, "callsite")
        self._doctests(tree, names)

    def _add(self, key: str, site: Site) -> None:
        found = self.sites[key]
        if len(found) < MAX_SITES:
            found[site] = None

    def _body(
        self, body: list[ast.stmt], scope: _Scope, names: dict[str, str], origin: str
    ) -> None:
        for stmt in body:
            stack: list[ast.AST] = [stmt]
            while stack:
                node = stack.pop()
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    self._body(node.body, _Scope(node.body, scope), names, origin)
                    continue
                if isinstance(node, ast.Call):
                    self._call(node, scope, names, origin)
                stack.extend(ast.iter_child_nodes(node))

    def _call(self, call: ast.Call, scope: _Scope, names: dict[str, str], origin: str) -> None:
        func = call.func
        dotted = _dotted(func, names)
        if dotted in self.targets:
            if (args := arguments(call, scope.constants())) is not None:
                self._add(dotted, Site(args, None, origin))
            return
        if not isinstance(func, ast.Attribute) or func.attr not in self.methods:
            return
        ctor_call = func.value
        if isinstance(ctor_call, ast.Name):
            ctor_call = scope.constants().ctors.get(ctor_call.id)  # type: ignore[assignment]
        if not isinstance(ctor_call, ast.Call):
            return
        cls = _dotted(ctor_call.func, names)
        key = f"{cls}.{func.attr}"
        if cls in self.classes and key in self.targets:
            constants = scope.constants()
            ctor, args = arguments(ctor_call, constants), arguments(call, constants)
            if ctor is not None and args is not None:
                self._add(key, Site(args, ctor, origin))

    def _doctests(self, tree: ast.Module, names: dict[str, str]) -> None:
        parser = doctest.DocTestParser()
        for node in [tree, *_statements(tree.body)]:
            if not isinstance(
                node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            ):
                continue
            doc = ast.get_docstring(node, clean=True)
            if not doc or ">>>" not in doc:
                continue
            try:
                examples = parser.get_examples(doc)
            except ValueError:
                continue
            body: list[ast.stmt] = []
            for example in examples:
                try:
                    body += ast.parse(example.source).body
                except SyntaxError:
                    continue
            self._body(body, _Scope(body), names, "doctest")


class _Scope:
    """A scope's `Constants`, worked out when a call in it is a target's (few are): reading
    the bindings of every scope cost more than the rest of a scan."""

    def __init__(self, body: list[ast.stmt], outer: _Scope | None = None):
        self.body, self.outer = body, outer
        self._constants: Constants | None = None

    def constants(self) -> Constants:
        if self._constants is None:
            outer = self.outer.constants() if self.outer is not None else None
            self._constants = Constants(self.body, outer)
        return self._constants
