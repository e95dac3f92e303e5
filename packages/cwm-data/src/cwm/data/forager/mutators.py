"""Bug-injection operators for mutate-fix tasks, as ``mutator`` plugins.

A mutator reads a module's syntax tree and proposes `Mutation`s: small text
edits at exact source positions (so the rest of the file keeps its formatting
and the diff shows one change). Every proposed mutant still parses.

    for m in registry("mutator").create("flip-comparison").mutations(source):
        print(m.line, m.description, m.apply(source))
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterator

import msgspec


class Mutation(msgspec.Struct, frozen=True, kw_only=True):
    mutator: str
    start: int  # byte offsets into the UTF-8 source
    end: int
    replacement: str
    line: int
    description: str

    def apply(self, source: str) -> str:
        data = source.encode()
        return (data[: self.start] + self.replacement.encode() + data[self.end :]).decode()

    def key(self, path: str) -> str:
        text = f"{path}:{self.start}:{self.end}:{self.replacement}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]


class _Source:
    """Byte offsets of AST positions (``col_offset`` counts UTF-8 bytes)."""

    def __init__(self, source: str):
        self.data = source.encode()
        self.line_starts = [0]
        for i, byte in enumerate(self.data):
            if byte == 0x0A:
                self.line_starts.append(i + 1)

    def offset(self, line: int, col: int) -> int:
        return self.line_starts[line - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return start, end

    def text(self, start: int, end: int) -> str:
        return self.data[start:end].decode()


class Mutator:
    """Base class: subclasses yield (node, start, end, replacement, description) edits."""

    name = ""

    def mutations(self, source: str, *, checked: bool = True) -> Iterator[Mutation]:
        """Every mutation of ``source``; ``checked``: only those whose mutant parses (slower)."""
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return
        src = _Source(source)
        for node in ast.walk(tree):
            for start, end, replacement, description in self.edits(node, src):
                m = Mutation(
                    mutator=self.name,
                    start=start,
                    end=end,
                    replacement=replacement,
                    line=getattr(node, "lineno", 0),
                    description=description,
                )
                if not checked or parses(m.apply(source)):
                    yield m

    def edits(self, node: ast.AST, src: _Source) -> Iterator[tuple[int, int, str, str]]:
        raise NotImplementedError


def parses(source: str) -> bool:
    try:
        ast.parse(source)
        return True
    except SyntaxError:
        return False


def _gap_edit(
    src: _Source, a: ast.AST, b: ast.AST, pattern: str, new: str
) -> tuple[int, int, str] | None:
    """Replace the first ``pattern`` in the text between nodes ``a`` and ``b`` (the operator)."""
    start, end = src.span(a)[1], src.span(b)[0]
    gap = src.text(start, end)
    m = re.search(pattern, gap)
    if m is None:
        return None
    return start, end, gap[: m.start()] + new + gap[m.end() :]


_BINOPS: dict[type, tuple[str, str]] = {
    ast.Add: (r"\+", "-"),
    ast.Sub: (r"-", "+"),
    ast.Mult: (r"(?<!\*)\*(?!\*)", "//"),
    ast.Div: (r"(?<!/)/(?!/)", "*"),
    ast.FloorDiv: (r"//", "/"),
    ast.Mod: (r"%", "//"),
    ast.Pow: (r"\*\*", "*"),
    ast.LShift: (r"<<", ">>"),
    ast.RShift: (r">>", "<<"),
    ast.BitAnd: (r"&", "|"),
    ast.BitOr: (r"\|", "&"),
    ast.BitXor: (r"\^", "|"),
}


class FlipBinaryOperator(Mutator):
    """``a + b`` -> ``a - b``, ``x += 1`` -> ``x -= 1``, ``*`` -> ``//``, ``&`` -> ``|``, ..."""

    name = "flip-binary-operator"

    def edits(self, node: ast.AST, src: _Source) -> Iterator[tuple[int, int, str, str]]:
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            pattern, new = _BINOPS[type(node.op)]
            left, right = node.left, node.right
        elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOPS:
            pattern, new = _BINOPS[type(node.op)]
            pattern, new = pattern + "=", new + "="
            left, right = node.target, node.value
        else:
            return
        if (edit := _gap_edit(src, left, right, pattern, new)) is not None:
            yield *edit, f"binary operator {type(node.op).__name__} changed to {new!r}"


_CMPOPS: dict[type, tuple[str, str]] = {
    ast.Lt: (r"<(?!=)", "<="),
    ast.LtE: (r"<=", "<"),
    ast.Gt: (r">(?!=)", ">="),
    ast.GtE: (r">=", ">"),
    ast.Eq: (r"==", "!="),
    ast.NotEq: (r"!=", "=="),
    ast.Is: (r"\bis\b(?!\s+not\b)", "is not"),
    ast.IsNot: (r"\bis\s+not\b", "is"),
    ast.In: (r"(?<!not )\bin\b", "not in"),
    ast.NotIn: (r"\bnot\s+in\b", "in"),
}


class FlipComparison(Mutator):
    """``<`` -> ``<=``, ``==`` -> ``!=``, ``is`` -> ``is not``, ``in`` -> ``not in``, ..."""

    name = "flip-comparison"

    def edits(self, node: ast.AST, src: _Source) -> Iterator[tuple[int, int, str, str]]:
        if not isinstance(node, ast.Compare) or type(node.ops[0]) not in _CMPOPS:
            return
        pattern, new = _CMPOPS[type(node.ops[0])]
        if (edit := _gap_edit(src, node.left, node.comparators[0], pattern, new)) is not None:
            yield *edit, f"comparison {type(node.ops[0]).__name__} changed to {new!r}"


class FlipBooleanOperator(Mutator):
    """``a and b`` -> ``a or b`` and back."""

    name = "flip-boolean-operator"

    def edits(self, node: ast.AST, src: _Source) -> Iterator[tuple[int, int, str, str]]:
        if not isinstance(node, ast.BoolOp):
            return
        old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        if (edit := _gap_edit(src, node.values[0], node.values[1], rf"\b{old}\b", new)) is not None:
            yield *edit, f"'{old}' changed to '{new}'"


class NegateCondition(Mutator):
    """``if c:`` -> ``if not (c):`` (also ``while`` and conditional expressions)."""

    name = "negate-condition"

    def edits(self, node: ast.AST, src: _Source) -> Iterator[tuple[int, int, str, str]]:
        if isinstance(node, ast.If | ast.While | ast.IfExp):
            start, end = src.span(node.test)
            yield start, end, f"not ({src.text(start, end)})", "condition negated"


class RemoveCondition(Mutator):
    """``if c:`` -> ``if True:``: the guarded code always runs."""

    name = "remove-condition"

    def edits(self, node: ast.AST, src: _Source) -> Iterator[tuple[int, int, str, str]]:
        if isinstance(node, ast.If) and not (
            isinstance(node.test, ast.Constant) or _is_main_guard(node.test)
        ):
            start, end = src.span(node.test)
            yield start, end, "True", "if-condition removed (always true)"


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


class _RemoveStatement(Mutator):
    kinds: tuple[type, ...] = ()
    what = ""

    def edits(self, node: ast.AST, src: _Source) -> Iterator[tuple[int, int, str, str]]:
        if isinstance(node, self.kinds):
            start, end = src.span(node)
            yield start, end, "pass", f"{self.what} removed"


class RemoveLoop(_RemoveStatement):
    """A ``for`` or ``while`` loop -> ``pass``."""

    name, kinds, what = "remove-loop", (ast.For, ast.While), "loop"


class RemoveAssignment(_RemoveStatement):
    """An assignment (``x = ...``, ``x += ...``) -> ``pass``."""

    name, kinds, what = "remove-assignment", (ast.Assign, ast.AugAssign), "assignment"


class ChangeConstant(Mutator):
    """An integer ``n`` -> ``n + 1``; ``True`` <-> ``False``."""

    name = "change-constant"

    def edits(self, node: ast.AST, src: _Source) -> Iterator[tuple[int, int, str, str]]:
        if not isinstance(node, ast.Constant):
            return
        start, end = src.span(node)
        if isinstance(node.value, bool):
            yield start, end, str(not node.value), f"{node.value} changed to {not node.value}"
        elif isinstance(node.value, int) and src.text(start, end).isdigit():
            yield (
                start,
                end,
                str(node.value + 1),
                f"constant {node.value} changed to {node.value + 1}",
            )


class SwapArguments(Mutator):
    """``f(a, b)`` -> ``f(b, a)`` (the first two positional arguments)."""

    name = "swap-arguments"

    def edits(self, node: ast.AST, src: _Source) -> Iterator[tuple[int, int, str, str]]:
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            return
        a, b = node.args[0], node.args[1]
        if isinstance(a, ast.Starred) or isinstance(b, ast.Starred):
            return
        (a0, a1), (b0, b1) = src.span(a), src.span(b)
        ta, tb, between = src.text(a0, a1), src.text(b0, b1), src.text(a1, b0)
        if ta != tb:
            yield a0, b1, tb + between + ta, "first two arguments swapped"


MUTATORS: dict[str, type[Mutator]] = {
    cls.name: cls
    for cls in (
        FlipBinaryOperator,
        FlipComparison,
        FlipBooleanOperator,
        NegateCondition,
        RemoveCondition,
        RemoveLoop,
        RemoveAssignment,
        ChangeConstant,
        SwapArguments,
    )
}
