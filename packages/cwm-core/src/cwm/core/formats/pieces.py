"""Splitting text or token ids into special tokens and the text between them.

Both the text and the token-id parsers of a format walk the same list of
pieces, so the two stay in step. A piece is ``(True, "<|eot_id|>")`` for a
special token or ``(False, "some text")`` for a run of ordinary text.

In text, a special token's string always means the token, so text formats
hold only content free of special-token strings; token ids carry any content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cwm.core.formats.errors import FormatError
from cwm.core.tokenizer import Tokenizer
from cwm.core.tokenizer import specials as sp

Piece = tuple[bool, str]
_SPECIAL = re.compile("|".join(re.escape(s) for s in sp.special_tokens(0)))


def text_pieces(text: str) -> list[Piece]:
    pieces: list[Piece] = []
    pos = 0
    for m in _SPECIAL.finditer(text):
        if m.start() > pos:
            pieces.append((False, text[pos : m.start()]))
        pieces.append((True, m.group()))
        pos = m.end()
    if pos < len(text):
        pieces.append((False, text[pos:]))
    return pieces


def id_pieces(tok: Tokenizer, ids: list[int]) -> list[Piece]:
    pieces: list[Piece] = []
    run: list[int] = []
    for i in ids:
        if tok.is_special(i):
            if run:
                pieces.append((False, tok.decode(run)))
                run = []
            pieces.append((True, tok.names[i]))
        elif 0 <= i < tok.n_ranks:
            run.append(i)
        else:
            raise FormatError(f"token id {i} is outside the vocabulary (0..{tok.n_vocab - 1})")
    if run:
        pieces.append((False, tok.decode(run)))
    return pieces


def piece_ids(tok: Tokenizer, pieces: Iterable[Piece]) -> list[int]:
    """The ids of ``pieces``: a special piece is its one id, text is encoded."""
    ids: list[int] = []
    for special, text in pieces:
        ids += [tok.specials[text]] if special else tok.encode(text)
    return ids


def has_special(text: str) -> bool:
    return _SPECIAL.search(text) is not None


class Cursor:
    """Reads pieces in order, with errors that say what was expected."""

    def __init__(self, pieces: list[Piece], what: str):
        self.pieces, self.pos, self.what = pieces, 0, what

    def done(self) -> bool:
        return self.pos >= len(self.pieces)

    def peek(self) -> Piece | None:
        return None if self.done() else self.pieces[self.pos]

    def at(self, special: str) -> bool:
        return self.peek() == (True, special)

    def special(self, *expected: str) -> str:
        piece = self.peek()
        if piece is None or not piece[0] or piece[1] not in expected:
            self.fail(" or ".join(expected))
        self.pos += 1
        return piece[1]

    def text(self) -> str:
        """The ordinary text here; empty if a special token (or the end) comes next."""
        piece = self.peek()
        if piece is None or piece[0]:
            return ""
        self.pos += 1
        return piece[1]

    def fail(self, expected: str) -> None:
        piece = self.peek()
        found = (
            "the end" if piece is None else (piece[1] if piece[0] else f"text {piece[1][:40]!r}")
        )
        raise FormatError(f"{self.what}: expected {expected} at piece {self.pos}, found {found}")
