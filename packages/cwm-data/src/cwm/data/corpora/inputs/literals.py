"""Argument expressions that are safe to copy into a task: literals and a few builtin constructors.

A call site's argument may be a name bound once to a literal in the same scope
(``text = "a b"; wrap(text, 5)``); `Constants` substitutes it.
"""

from __future__ import annotations

import ast
from collections import Counter

from cwm.data.corpora.scopes import scope_nodes

MAX_ARG_CHARS = 400
SAFE_CALLS = frozenset(
    {
        "set",
        "frozenset",
        "tuple",
        "list",
        "dict",
        "range",
        "bytes",
        "bytearray",
        "complex",
        "float",
        "int",
        "str",
        "bool",
    }
)
_OPS = (ast.Add, ast.Sub, ast.Mult, ast.USub, ast.UAdd)


class Constants:
    """Names bound exactly once in a scope, to a literal (``consts``) or to ``Class(args)`` (``ctors``)."""

    def __init__(self, body: list[ast.stmt], outer: Constants | None = None):
        self.consts: dict[str, ast.expr] = dict(outer.consts) if outer else {}
        self.ctors: dict[str, ast.Call] = dict(outer.ctors) if outer else {}
        nodes = list(scope_nodes(body))
        stores = Counter(
            n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        )
        for node in nodes:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
                continue
            target = node.targets[0]
            if not isinstance(target, ast.Name) or stores[target.id] != 1:
                continue
            if isinstance(node.value, ast.Call):
                self.ctors[target.id] = node.value
            elif (value := literal(node.value, self)) is not None:
                self.consts[target.id] = value


def literal(node: ast.expr, scope: Constants | None = None) -> ast.expr | None:
    """``node`` with known constants substituted, if it is a safe literal expression; else None."""
    if isinstance(node, ast.Constant):
        return node
    if isinstance(node, ast.Name):
        return scope.consts.get(node.id) if scope else None
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        elts = [literal(e, scope) for e in node.elts]
        if any(e is None or isinstance(e, ast.Starred) for e in elts):
            return None
        return (
            type(node)(elts=elts, ctx=ast.Load())
            if not isinstance(node, ast.Set)
            else ast.Set(elts=elts)
        )
    if isinstance(node, ast.Dict):
        keys = [literal(k, scope) if k is not None else None for k in node.keys]
        values = [literal(v, scope) for v in node.values]
        if any(k is None for k in keys) or any(v is None for v in values):
            return None
        return ast.Dict(keys=keys, values=values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, _OPS):
        operand = literal(node.operand, scope)
        return ast.UnaryOp(op=node.op, operand=operand) if operand is not None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, _OPS):
        left, right = literal(node.left, scope), literal(node.right, scope)
        if left is None or right is None:
            return None
        return ast.BinOp(left=left, op=node.op, right=right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in SAFE_CALLS
        and not node.keywords
    ):
        args = [literal(a, scope) for a in node.args]
        if any(a is None for a in args):
            return None
        return ast.Call(func=ast.Name(node.func.id, ast.Load()), args=args, keywords=[])
    return None


def arguments(call: ast.Call, scope: Constants | None = None) -> str | None:
    """The argument list of ``call`` as source text, if every argument is a safe literal."""
    parts: list[str] = []
    for arg in call.args:
        value = None if isinstance(arg, ast.Starred) else literal(arg, scope)
        if value is None:
            return None
        parts.append(ast.unparse(value))
    for kw in call.keywords:
        value = literal(kw.value, scope) if kw.arg else None
        if value is None:
            return None
        parts.append(f"{kw.arg}={ast.unparse(value)}")
    text = ", ".join(parts)
    return text if len(text) <= MAX_ARG_CHARS else None
