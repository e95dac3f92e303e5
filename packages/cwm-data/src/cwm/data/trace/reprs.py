"""Repr text for trace values: bounded, and never failing.

Locals and values are recorded as ``repr()`` text. A text longer than the limit
is cut and ends with `TRUNCATED`. A large builtin container is rendered only as
far as the limit needs (its repr is never built in full), so a million-element
list costs as much as a short one. An object whose ``repr`` raises is written
``<unreprable TYPE: ERROR>``; a recursive container shows ``[...]`` as Python does.

The string ``".."`` marks an unchanged local in the text format, so a local whose
repr is exactly ``..`` is recorded as `DOTS_REPR` instead.
"""

from __future__ import annotations

import types
from itertools import islice
from typing import Any

TRUNCATED = "...<truncated>"
DOTS_REPR = "<repr '..'>"

#: immutable types whose repr cannot change while the same object is bound:
#: a scope reuses the previous text when a local still holds the same object.
ATOMIC: frozenset[type] = frozenset(
    {
        int,
        float,
        complex,
        str,
        bytes,
        bool,
        type(None),
        type(Ellipsis),
        range,
        type,
        types.FunctionType,
        types.BuiltinFunctionType,
        types.ModuleType,
    }
)

_NUMBERS = frozenset({int, float, complex, bool, type(None)})
_TEXT = frozenset({str, bytes})
_SEQUENCES = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    set: ("{", "}"),
    frozenset: ("frozenset({", "})"),
}


def shows_address(text: str | None) -> bool:
    """A repr that shows a memory address (``<... at 0x...>``) differs from run to run,
    so dataset builds drop a trace whose result shows one (or that has no result)."""
    return text is None or " at 0x" in text


def value_repr(obj: Any, limit: int) -> str:
    """``repr(obj)``, cut to ``limit`` characters (+ `TRUNCATED`), or a note if repr fails."""
    try:
        text = _repr(obj, limit)
    except RecursionError:
        return f"<unreprable {_type_name(obj)}: RecursionError>"
    except Exception as exc:
        return f"<unreprable {_type_name(obj)}: {type(exc).__name__}>"
    if len(text) > limit:
        return text[:limit] + TRUNCATED
    return text


def local_repr(obj: Any, limit: int) -> str:
    """`value_repr` for a local: never the reserved ``..``."""
    text = value_repr(obj, limit)
    return DOTS_REPR if text == ".." else text


def _type_name(obj: Any) -> str:
    try:
        return type(obj).__qualname__
    except Exception:  # a metaclass can make even this fail
        return "object"


def _repr(obj: Any, limit: int) -> str:
    t = type(obj)
    if t is str or t is bytes or t is bytearray:
        # a prefix is enough to fill the limit (repr of a char is at most 10 chars)
        return repr(obj[: limit + 1]) if len(obj) > limit + 1 else repr(obj)
    if t in _SEQUENCES or t is dict:
        if _short_and_flat(obj, limit):
            return repr(obj)  # the C repr is fast and bounded
        if len(obj) > limit // 3:
            head = _flat_head(obj, limit // 3 + 1)
            if head is not None:
                return head
        return _bounded(obj, limit, set())
    return repr(obj)


def _flat_head(obj: Any, k: int) -> str | None:
    """The repr of the first ``k`` items of a long flat container, built in C.

    With at least 3 characters per item (``1, ``) its first ``3k - 1`` characters
    are those of the full repr, which is all the limit lets through.
    """
    t = type(obj)
    if t is list or t is tuple:
        head = obj[:k]
        return repr(head) if _flat(head, k * 3) else None
    if t is dict:
        head = dict(islice(obj.items(), k))
        return repr(head) if _flat(head, k * 3) and _flat(head.values(), k * 3) else None
    items = list(islice(obj, k))  # a set's repr lists its items in iteration order
    if not _flat(items, k * 3):
        return None
    open_, close = _SEQUENCES[t]
    return open_ + repr(items)[1:-1] + close


def _short_and_flat(obj: Any, limit: int) -> bool:
    return (
        len(obj) <= limit // 3
        and _flat(obj, limit)
        and (type(obj) is not dict or _flat(obj.values(), limit))
    )


def _flat(items: Any, limit: int) -> bool:
    """Whether the items are numbers, None, or short str/bytes (checked at C speed, no Python loop)."""
    kinds = set(map(type, items))
    if kinds <= _NUMBERS:
        return True
    return kinds <= _TEXT and max(map(len, items), default=0) <= limit


def _bounded(obj: Any, budget: int, active: set[int]) -> str:
    """The first ``budget``-odd characters of a builtin container's repr."""
    t = type(obj)
    if id(obj) in active:
        return {dict: "{...}", list: "[...]", tuple: "(...)"}.get(t, "{...}")
    active.add(id(obj))
    try:
        if t is dict:
            open_, close, items = "{", "}", obj.items()
        else:
            (open_, close), items = _SEQUENCES[t], obj
        parts, used = [open_], len(open_)
        for i, item in enumerate(items):
            if used > budget:
                break
            if i:
                parts.append(", ")
                used += 2
            if t is dict:
                text = _element(item[0], budget - used, active) + ": "
                text += _element(item[1], budget - used - len(text), active)
            else:
                text = _element(item, budget - used, active)
            parts.append(text)
            used += len(text)
        else:
            if t is tuple and len(obj) == 1:
                parts.append(",")
            parts.append(close)
        return "".join(parts)
    finally:
        active.discard(id(obj))


def _element(obj: Any, budget: int, active: set[int]) -> str:
    budget = max(budget, 1)
    t = type(obj)
    if (t in _SEQUENCES or t is dict) and not _short_and_flat(obj, budget):
        return _bounded(obj, budget, active)
    return _repr(obj, budget)
