"""The nodes of one scope of a function, in the order Python evaluates them.

Nested functions, lambdas, classes and comprehensions are scopes of their own (a name
there may be another variable) and are not entered. An assignment's value comes
before its targets, a ``for``'s iterable before its target, so that ``s = s.decode()``
reads ``s`` before it binds it anew.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

NESTED = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def scope_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """``body``'s nodes in evaluation order, a nested scope yielded but not entered."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, NESTED):
            stack.extend(reversed(_children(node)))


def _children(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        return [node.value, *node.targets]
    if isinstance(node, ast.AugAssign | ast.NamedExpr):
        return [node.value, node.target]
    if isinstance(node, ast.AnnAssign):
        return [n for n in (node.value, node.annotation, node.target) if n is not None]
    if isinstance(node, ast.For | ast.AsyncFor):
        return [node.iter, node.target, *node.body, *node.orelse]
    return list(ast.iter_child_nodes(node))
