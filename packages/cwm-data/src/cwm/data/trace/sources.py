"""Source lines of the code a trace visits, and the ``def`` line of each function.

A frame's action is the text of the line that runs. A call frame's line is the
function's ``def`` line (its ``class`` line for a class body) even when the
function is decorated; a resumed generator's call frame is the line it resumes at.
"""

from __future__ import annotations

import ast
import dis
import linecache
from types import CodeType

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class SourceLines:
    """The lines of one file, and the ``def`` line of its decorated definitions."""

    def __init__(self, text: str, tree: ast.AST | None = None):
        self.lines = text.split("\n")
        self._text, self._tree = text, tree
        self._defs: dict[tuple[int, str], int] | None = None

    def line(self, lineno: int) -> str:
        return self.lines[lineno - 1].rstrip("\r") if 0 < lineno <= len(self.lines) else ""

    def def_line(self, code: CodeType) -> int:
        """The line of ``def``/``class``: Python numbers a decorated one from its first decorator."""
        if self._defs is None:
            self._defs = _decorated_defs(self._text, self._tree)
        return self._defs.get((code.co_firstlineno, code.co_name), code.co_firstlineno)


def _decorated_defs(text: str, tree: ast.AST | None) -> dict[tuple[int, str], int]:
    if tree is None:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return {}
    return {
        (min(d.lineno for d in node.decorator_list), node.name): node.lineno
        for node in ast.walk(tree)
        if isinstance(node, _DEFS) and node.decorator_list
    }


class SourceIndex:
    """`SourceLines` by file name: the traced source itself, other files via linecache."""

    def __init__(self, filename: str, lines: SourceLines):
        self.filename = filename
        self._files: dict[str, SourceLines] = {filename: lines}

    def of(self, filename: str) -> SourceLines:
        lines = self._files.get(filename)
        if lines is None:
            lines = self._files[filename] = SourceLines("".join(linecache.getlines(filename)))
        return lines


_RESUME = dis.opmap["RESUME"]


def first_resume(code: CodeType) -> int:
    """Offset of the code's first RESUME: a frame at or before it is starting, not resuming."""
    opcodes = code.co_code[::2]  # every instruction (and inline cache entry) is 2 bytes
    index = opcodes.find(_RESUME)
    return 2 * index if index >= 0 else 0
