"""Synthesized argument values, as source text: by type hint, by default, by parameter name.

Also `mutate`, which derives new arguments from ones that already ran (so a
function that worked on ``wrap('a b c', 3)`` is tried on ``wrap('a b c', 4)``).
"""

from __future__ import annotations

import ast
import random
from typing import Any

INT = ["0", "1", "2", "3", "5", "7", "10", "-1", "42", "100", "255", "1000", "12"]
FLOAT = ["0.0", "0.5", "1.0", "2.5", "-1.5", "3.14159", "0.25", "100.0", "0.001", "0.75"]
STR = [
    "''",
    "'a'",
    "'abc'",
    "'hello world'",
    "'Hello, World!'",
    "'  spaced  out  '",
    "'line1\\nline2\\n'",
    "'CamelCaseName'",
    "'snake_case_name'",
    "'1234'",
    "'a,b,c'",
    "'The quick brown fox jumps over the lazy dog'",
    "'x=1; y=2'",
    "'café'",
    "'tab\\tseparated'",
    "'/usr/local/lib/python3'",
    "'user@example.com'",
    "'https://example.com/a/b?q=1&r=2#frag'",
    "'3.14'",
    "'ABC'",
    "'aAbBcC'",
    "'  leading'",
    "'key: value'",
    "'a/b/../c/./d'",
    "'<b>bold</b> &amp; text'",
    "'MiXeD CaSe 42'",
    "'2024-01-15'",
    "'12:30:45'",
]
BYTES = ["b''", "b'abc'", "b'hello world'", "b'\\x00\\x01\\xff'", "b'line1\\nline2'", "b'ABC=='"]
BOOL = ["True", "False"]
LIST_INT = [
    "[]",
    "[1]",
    "[3, 1, 2]",
    "[1, 2, 3, 4, 5]",
    "[5, 3, 8, 1, 9, 2]",
    "[0, -1, 1]",
    "[10, 20, 30]",
    "[1, 1, 2, 3, 5, 8]",
]
LIST_STR = [
    "['a', 'b', 'c']",
    "['hello', 'world']",
    "['x']",
    "['apple', 'banana', 'cherry']",
    "['b', 'a', 'b']",
]
LIST_FLOAT = ["[1.0, 2.5, 3.5]", "[0.5, 0.25]", "[2.0, 4.0, 4.0, 5.0, 7.0]"]
DICT = [
    "{}",
    "{'a': 1, 'b': 2}",
    "{'x': 'y'}",
    "{1: 'one', 2: 'two'}",
    "{'name': 'Ada', 'age': 36}",
]
TUPLE = ["()", "(1, 2)", "(1, 2, 3)", "('a', 1)", "(0.5, 0.5, 0.5)"]
SET = ["set()", "{1, 2, 3}", "{'a', 'b'}"]
GENERIC = ["0", "1", "'abc'", "[1, 2, 3]", "2.5", "None", "'hello world'", "(1, 2)", "True"]

POOLS: dict[str, list[str]] = {
    "int": INT,
    "float": FLOAT,
    "str": STR,
    "bytes": BYTES,
    "bool": BOOL,
    "list": LIST_INT + LIST_STR,
    "dict": DICT,
    "tuple": TUPLE,
    "set": SET,
    "frozenset": ["frozenset()", "frozenset({1, 2})"],
    "None": ["None"],
    "bytearray": ["bytearray(b'abc')"],
    "complex": ["1j", "(1+2j)"],
}
_CONTAINERS = {
    "Sequence": "list",
    "Iterable": "list",
    "Collection": "list",
    "MutableSequence": "list",
    "Mapping": "dict",
    "MutableMapping": "dict",
    "List": "list",
    "Dict": "dict",
    "Tuple": "tuple",
    "Set": "set",
    "AbstractSet": "set",
    "FrozenSet": "frozenset",
    "Text": "str",
    "AnyStr": "str",
}

# parameter names that suggest a type: one string of names per type
_NAMES: dict[str, frozenset[str]] = {
    kind: frozenset(names.split())
    for kind, names in {
        "str": """
            s string text name word line prefix suffix sep char ch c chars title label msg
            message key src source template fmt format encoding charset path url addr address
            host header field token tag quote ext mode locale domain email s1 s2 value newline
            delimiter delim pattern errors hostname netloc scheme query fragment pathname
            dirname basename filename word1 word2 strng
        """,
        "int": """
            n i j k m count num number size width height index idx start stop end pos position
            length level depth base limit maxsize year month day hour minute second bits nbits
            offset step indent tabsize precision digits ndigits code lo hi maxlen maxsplit times
            repeat columns cols rows
        """,
        "float": "x y z f h l v r g b q alpha ratio t theta angle p prob weight rate a1 a2 dx dy",
        "list": """
            items seq sequence iterable lst list values elements data xs nums numbers a arr
            array words lines parts args iterables population it iterator heap sorted_list pairs
            vec vector
        """,
        "dict": "d mapping dct dictionary kwargs kw table env vars obj attrs params",
        "bool": "flag strict reverse verbose keepends quiet force ignorecase casefold skipkeys",
        "bytes": "buf buffer bytes bs octets raw binary bdata",
    }.items()
}


def pools_for_hint(node: ast.expr | None) -> list[str]:
    """Values for a parameter annotation (an AST node), or [] when it says nothing usable."""
    if node is None:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "int" as a string
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return []
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
        return pools_for_hint(node.left) + pools_for_hint(node.right)
    if isinstance(node, ast.Constant) and node.value is None:
        return ["None"]
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
    if isinstance(node, ast.Subscript):
        outer = (
            node.value.attr
            if isinstance(node.value, ast.Attribute)
            else getattr(node.value, "id", "")
        )
        inner = (
            node.slice.elts[0]
            if isinstance(node.slice, ast.Tuple) and node.slice.elts
            else node.slice
        )
        if outer in ("Optional", "Union"):
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return [v for item in items for v in pools_for_hint(item)] + (
                ["None"] if outer == "Optional" else []
            )
        outer = _CONTAINERS.get(outer, outer)
        if outer == "list":
            inner_name = getattr(inner, "id", "")
            return {"int": LIST_INT, "str": LIST_STR, "float": LIST_FLOAT}.get(
                inner_name, LIST_INT + LIST_STR
            )
        return POOLS.get(outer, [])
    if name is None:
        return []
    return POOLS.get(_CONTAINERS.get(name, name), [])


def pools_for_name(name: str) -> list[str]:
    low = name.lower().strip("_")
    found = [kind for kind, names in _NAMES.items() if low in names]
    if not found:
        if low.startswith(("is_", "has_", "use_", "allow_", "no_")):
            found = ["bool"]
        elif low.endswith(
            ("_count", "_size", "_len", "_index", "_width", "_num")
        ) or low.startswith(("n_", "num_", "max_", "min_")):
            found = ["int"]
        elif low.endswith(("name", "text", "str", "string", "_s")):
            found = ["str"]
        elif low.endswith("s") and len(low) > 3:
            found = ["list"]
    return [v for kind in found for v in POOLS[kind]]


def pools_for_default(node: ast.expr | None) -> list[str]:
    """Values of the same type as a parameter's literal default."""
    if not isinstance(node, ast.Constant) or node.value is None:
        return []
    return POOLS.get(type(node.value).__name__, [])


# -- mutation --------------------------------------------------------------------


def _roundtrips(value: Any) -> bool:
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _mutate_value(value: Any, rng: random.Random) -> Any:
    t = type(value)
    if t is bool:
        return not value
    if t is int:
        return rng.choice(
            [value + 1, value - 1, value * 2, value // 2, -value, 0, 1, value + 10, 3, 7]
        )
    if t is float:
        return rng.choice([value * 2, value / 2, -value, value + 0.5, 0.0, 1.0, 0.3])
    if t is str:
        word = ast.literal_eval(rng.choice(STR))
        options = [
            value.upper(),
            value.lower(),
            value[::-1],
            value[: len(value) // 2],
            value + word,
            word + value,
            value.replace(" ", ""),
            " " + value + " ",
            value.title(),
            word,
        ]
        if len(value) < 200:
            options.append(value * 2)
        return rng.choice(options)
    if t is bytes:
        return rng.choice(
            [value + b"xyz", value[::-1], value.upper(), value[: len(value) // 2], b"data"]
        )
    if t in (list, tuple):
        items = list(value)
        ops = ["append", "reverse", "shuffle"]
        if items:
            ops += ["drop", "change", "change"]
        op = rng.choice(ops)
        if op == "append":
            items.append(_mutate_value(items[-1], rng) if items else rng.choice([1, "a", 2.5]))
        elif op == "reverse":
            items.reverse()
        elif op == "shuffle":
            rng.shuffle(items)
        elif op == "drop":
            items.pop(rng.randrange(len(items)))
        else:
            i = rng.randrange(len(items))
            items[i] = _mutate_value(items[i], rng)
        return t(items)
    if t is dict:
        out = dict(value)
        if out and rng.random() < 0.5:
            key = rng.choice(list(out))
            out[key] = _mutate_value(out[key], rng)
        elif out and rng.random() < 0.3:
            out.pop(rng.choice(list(out)))
        else:
            out[rng.choice(["new", "z", 99])] = rng.choice([0, "v", [1]])
        return out
    if t in (set, frozenset):
        return t({*value, rng.choice([0, 4, "q", 11])})
    return value


def mutate(args: str, rng: random.Random) -> str | None:
    """A variant of an argument list (source text) with one or two literal arguments changed."""
    try:
        call = ast.parse(f"f({args})", mode="eval").body
        assert isinstance(call, ast.Call)
        values = [ast.literal_eval(a) for a in call.args]
        kw = [(k.arg, ast.literal_eval(k.value)) for k in call.keywords]
    except (ValueError, SyntaxError, TypeError, AssertionError, MemoryError, RecursionError):
        return None
    slots = len(values) + len(kw)
    if not slots:
        return None
    for _ in range(1 if rng.random() < 0.7 else 2):
        i = rng.randrange(slots)
        if i < len(values):
            values[i] = _mutate_value(values[i], rng)
        else:
            name, value = kw[i - len(values)]
            kw[i - len(values)] = (name, _mutate_value(value, rng))
    if not all(_roundtrips(v) for v in values) or not all(_roundtrips(v) for _, v in kw):
        return None
    text = ", ".join([repr(v) for v in values] + [f"{k}={v!r}" for k, v in kw])
    return text if len(text) <= 600 and text != args else None
