"""What kind of value a parameter must be, read from how the function's body uses it.

A function that calls ``p.decode()`` wants bytes, one that computes ``p >> 3`` an
int, one that calls ``p.items()`` a mapping, whatever the parameter is named.
`used_as` counts only uses that pin one kind (``p[0]`` or ``len(p)`` fit several and
say nothing); the first wins, as long as the body has not bound the name anew before
it. `uses_string_methods` is a weaker hint: a method that strings and bytes share
(``p.split()``), which the generator trusts less than the parameter's name.
"""

from __future__ import annotations

import ast

from cwm.data.corpora.scopes import scope_nodes

#: methods only one kind of literal value has (written out: ``dir()`` differs between
#: Python versions, a dataset should not)
_ONLY = {
    "str": "encode format format_map casefold isidentifier isdecimal isnumeric isprintable",
    "bytes": "decode",
    "int": "bit_length bit_count to_bytes numerator denominator",
    "list": "append extend insert sort reverse",
    "dict": "items keys values setdefault popitem get",
    "set": "add discard union intersection difference symmetric_difference issubset "
    "issuperset isdisjoint",
}
_ATTRIBUTES = {method: kind for kind, names in _ONLY.items() for method in names.split()}
#: methods that strings and bytes share
_SHARED = """
    startswith endswith strip lstrip rstrip split rsplit splitlines lower upper replace find
    rfind rindex partition rpartition isdigit isalpha isspace isupper islower isalnum isascii
    istitle title capitalize swapcase zfill center ljust rjust expandtabs removeprefix
    removesuffix join translate
"""
_STRING_METHODS = frozenset(_SHARED.split())
#: operators that, among the literal kinds, only ints take (``&``, ``|`` and ``^`` take
#: sets too: an int when the other operand is an int literal, ``mode & 0o170000``)
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
    for node in _before_rebinding(function, name):
        kind = _telling(node, name)
        if kind is not None:
            return kind
    return None


def uses_string_methods(function: ast.FunctionDef, name: str) -> bool:
    """Whether the body calls a method on ``name`` that strings and bytes both have."""
    return any(
        isinstance(node, ast.Attribute) and _is(node.value, name) and node.attr in _STRING_METHODS
        for node in _before_rebinding(function, name)
    )


def _before_rebinding(function: ast.FunctionDef, name: str) -> list[ast.AST]:
    """The body's nodes until ``name`` is bound anew (after that it holds another value)."""
    out: list[ast.AST] = []
    for node in scope_nodes(function.body):
        if _is(node, name) and isinstance(node.ctx, ast.Store):  # type: ignore[attr-defined]
            break
        out.append(node)
    return out


def _is(node: ast.AST | None, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_int(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    )


def _int_operation(op: ast.operator, this: ast.AST, other: ast.AST, name: str) -> bool:
    return _is(this, name) and (
        isinstance(op, _SHIFTS) or (isinstance(op, _BITWISE) and _is_int(other))
    )


def _telling(node: ast.AST, name: str) -> str | None:
    if isinstance(node, ast.Attribute) and _is(node.value, name):
        return _ATTRIBUTES.get(node.attr)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        # p.startswith(b"...") says bytes, p.split(",") a string
        method = node.func
        if _is(method.value, name) and method.attr in _STRING_METHODS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str | bytes):
                return type(first.value).__name__
    if isinstance(node, ast.BinOp) and isinstance(node.op, _SHIFTS + _BITWISE):
        left, right = node.left, node.right
        if _int_operation(node.op, left, right, name) or _int_operation(node.op, right, left, name):
            return "int"
    if isinstance(node, ast.AugAssign) and isinstance(node.op, _SHIFTS + _BITWISE):
        return "int" if _int_operation(node.op, node.target, node.value, name) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return "int" if _is(node.operand, name) else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        return _FIRST_ARGUMENT.get(node.func.id) if _is(node.args[0], name) else None
    return None
