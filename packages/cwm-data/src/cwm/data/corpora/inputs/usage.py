"""What kind of value a parameter must be, read from how the function's body uses it.

A function that calls ``p.decode()`` wants bytes, one that computes ``p >> 3`` an
int, one that calls ``p.items()`` a mapping, whatever the parameter is named.
Only uses that pin one kind count (``p[0]`` or ``len(p)`` fit several and say nothing);
the first wins, as long as the body has not assigned the name anew before it. Failing
that, a string method that bytes share too (``p.split()``) says a string.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

#: the literal kinds the synthesized values come in
_KINDS: dict[str, type] = {
    "str": str,
    "bytes": bytes,
    "int": int,
    "float": float,
    "list": list,
    "tuple": tuple,
    "dict": dict,
    "set": set,
}


def _public(kind: type) -> set[str]:
    return {a for a in dir(kind) if not a.startswith("_")}


def _others(*kinds: str) -> set[str]:
    return set().union(*(_public(t) for k, t in _KINDS.items() if k not in kinds))


#: attributes that only one kind has (``decode``, ``bit_length``, ``items``, ``append``)
_ATTRIBUTES = {a: k for k, t in _KINDS.items() for a in _public(t) - _others(k)}
#: string methods that bytes have too (``split``): a string is likelier, unless another
#: use tells
_STRINGS = (_public(str) & _public(bytes)) - _others("str", "bytes")
#: operators that only ints take among the literal kinds, and those that sets take too
#: (an int when the other operand is an int literal: ``mode & 0o170000``)
_SHIFTS = (ast.LShift, ast.RShift)
_BITWISE = (ast.BitAnd, ast.BitOr, ast.BitXor)
#: builtins whose first argument must be an int, or bytes
_FIRST_ARGUMENT = {
    **dict.fromkeys(["chr", "hex", "bin", "oct", "range"], "int"),
    **dict.fromkeys(["memoryview", "bytearray"], "bytes"),
}


def used_as(function: ast.FunctionDef, name: str) -> str | None:
    """The kind (a key of `cwm.data.corpora.inputs.values.POOLS`) that ``function``'s body
    needs parameter ``name`` to be, or None when its uses do not tell."""
    likely = None
    for node in _walk_own(function):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            break  # from here on the name holds another value
        kind = _telling(node, name)
        if kind is not None:
            return kind
        if likely is None and _calls_string_method(node, name):
            likely = "str"
    return likely


def _is(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_int(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    )


def _calls_string_method(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Attribute) and _is(node.value, name) and node.attr in _STRINGS


def _telling(node: ast.AST, name: str) -> str | None:
    if isinstance(node, ast.Attribute) and _is(node.value, name):
        return _ATTRIBUTES.get(node.attr)
    if isinstance(node, ast.BinOp) and isinstance(node.op, _SHIFTS + _BITWISE):
        for this, other in ((node.left, node.right), (node.right, node.left)):
            if _is(this, name) and (isinstance(node.op, _SHIFTS) or _is_int(other)):
                return "int"
        return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return "int" if _is(node.operand, name) else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        return _FIRST_ARGUMENT.get(node.func.id) if _is(node.args[0], name) else None
    return None


def _walk_own(function: ast.FunctionDef) -> Iterator[ast.AST]:
    """The body's nodes in source order, not those inside nested functions or classes
    (where the name may be another variable)."""
    stack: list[ast.AST] = list(reversed(function.body))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))
