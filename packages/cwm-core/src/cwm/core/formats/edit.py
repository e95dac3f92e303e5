"""Inputs of the file tools: the SEARCH/REPLACE ``edit`` block and ``create``.

edit::

    path/to/file.py
    <<<<<<< SEARCH
    exact lines to find
    =======
    lines to put instead
    >>>>>>> REPLACE

create: the path on the first line, the file's content after it.

`apply_edit` replaces the search lines, which must occur exactly once and
start at a line start, and `snippet` shows the changed region.
"""

from __future__ import annotations

import re

import msgspec

from cwm.core.formats.errors import FormatError

SEARCH, DIVIDER, REPLACE = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
_BLOCK = re.compile(r"([^\n]*)\n<<<<<<< SEARCH\n(.*?)\n=======\n(.*?)\n>>>>>>> REPLACE", re.DOTALL)


class EditError(FormatError):
    pass


class EditBlock(msgspec.Struct, frozen=True):
    path: str
    search: str
    replace: str


class CreateFile(msgspec.Struct, frozen=True):
    path: str
    content: str


def render_edit(edit: EditBlock) -> str:
    return f"{edit.path}\n{SEARCH}\n{edit.search}\n{DIVIDER}\n{edit.replace}\n{REPLACE}"


def parse_edit(text: str) -> EditBlock:
    blocks = list(_BLOCK.finditer(text))
    if not blocks:
        raise EditError(
            f"edit expects a path line, then '{SEARCH}', the lines to find, '{DIVIDER}', "
            f"the new lines, and '{REPLACE}'"
        )
    if len(blocks) > 1:
        raise EditError(f"one SEARCH/REPLACE block per edit, found {len(blocks)}")
    m = blocks[0]
    if m.start() != 0 or text[m.end() :].strip():
        raise EditError("edit takes exactly one path line followed by one SEARCH/REPLACE block")
    path, search, replace = m.groups()
    if not path.strip():
        raise EditError("edit needs a file path on its first line")
    if not search:
        raise EditError("the SEARCH part is empty; give the exact lines to replace")
    return EditBlock(path.strip(), search, replace)


def render_create(create: CreateFile) -> str:
    return f"{create.path}\n{create.content}"


def parse_create(text: str) -> CreateFile:
    path, _, content = text.partition("\n")
    if not path.strip():
        raise EditError("create needs a file path on its first line")
    return CreateFile(path.strip(), content)


def _line_starts(text: str, needle: str) -> list[int]:
    """Offsets where ``needle`` occurs in ``text`` starting at a line start."""
    hay, pat = "\n" + text, "\n" + needle
    out, i = [], hay.find(pat)
    while i != -1:
        out.append(i)
        i = hay.find(pat, i + 1)
    return out


def apply_edit(original: str, search: str, replace: str) -> tuple[str, int]:
    """Replace the one line-aligned occurrence of ``search``; returns (new text, first changed line)."""
    hits = _line_starts(original, search)
    if not hits:
        hint = ""
        first = search.split("\n", 1)[0].strip()
        if first and first in original:
            hint = "; the lines must match exactly, indentation included"
        raise EditError(f"the search lines do not appear in the file{hint}")
    if len(hits) > 1:
        lines = [original.count("\n", 0, h) + 1 for h in hits]
        raise EditError(
            f"the search lines occur {len(hits)} times (lines {lines}); make them unique"
        )
    start = hits[0]  # offset in original, since the prepended "\n" shifts by one
    return original[:start] + replace + original[start + len(search) :], original.count(
        "\n", 0, start
    ) + 1


def snippet(text: str, line: int, n_new_lines: int, context: int = 8) -> str:
    """Numbered lines around ``line``, as the edit tool reports them."""
    lines = text.split("\n")
    lo = max(1, line - context)
    hi = min(len(lines), line + n_new_lines + context - 1)
    return "\n".join(f"{i:6}\t{lines[i - 1]}" for i in range(lo, hi + 1))
