"""Source lines of the code a trace visits, and the ``def`` line of each function.

A frame's action is the text of the line that runs. A call frame's line is the
function's ``def`` line (its ``class`` line for a class body) even when the
function is decorated; a resumed generator's call frame is the line it resumes at.
"""

from __future__ import annotations

import dis
import linecache
import re
from types import CodeType

_DEF = re.compile(r"\s*(?:async\s+def|def|class)\s")


class SourceLines:
    """The lines of one file."""

    def __init__(self, text: str):
        self.lines = [line.rstrip("\r") for line in text.split("\n")]

    def line(self, lineno: int) -> str:
        return self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""

    def def_line(self, code: CodeType) -> int:
        """The line of ``def``/``class``: Python numbers a decorated one from its first decorator."""
        first = code.co_firstlineno
        if not self.line(first).lstrip().startswith("@"):
            return first
        for lineno in range(first + 1, min(first + 200, len(self.lines) + 1)):
            if _DEF.match(self.line(lineno)):
                return lineno
        return first


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


RESUME = dis.opmap["RESUME"]


def first_resume(code: CodeType) -> int:
    """Offset of the code's first RESUME: a frame at or before it is starting, not resuming."""
    opcodes = code.co_code[::2]  # every instruction (and inline cache entry) is 2 bytes
    index = opcodes.find(RESUME)
    return 2 * index if index >= 0 else 0
