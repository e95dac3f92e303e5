"""The CWM execution-trace format.

The prompt is the module source, with ``  # << START_OF_TRACE`` appended to the
entry function's ``def`` line::

    <|begin_of_text|><|trace_context_start|>SOURCE<|frame_sep|>

then one frame per event::

    <|call_sep|>LOCALS<|action_sep|>SOURCE_LINE<|frame_sep|>
    <|line_sep|>LOCALS<|action_sep|>SOURCE_LINE<|frame_sep|>
    <|return_sep|><|action_sep|>SOURCE_LINE<|arg_sep|>VALUE<|frame_sep|>
    <|exception_sep|><|action_sep|>SOURCE_LINE<|arg_sep|>VALUE<|frame_sep|>

and ``<|end_of_text|>`` once the entry scope has exited. LOCALS is a JSON
object of repr strings (``json.dumps`` defaults); a value unchanged since the
previous frame of the same scope is ``".."``. A scope is one activation: it
opens at a call frame and closes at its return frame, so after a callee
returns, the caller's locals are compared with the caller's last frame.

As token ids, each text part (source, LOCALS, SOURCE_LINE, VALUE) is encoded
on its own. `trace_segments` gives the prompt, each frame and the end as
separate id lists, for next-frame evaluation and loss masks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import msgspec

from cwm.core.formats.errors import FormatError
from cwm.core.formats.pieces import Cursor, Piece, id_pieces, piece_ids, text_pieces
from cwm.core.schemas import (
    UNCHANGED,
    AnyFrame,
    CallFrame,
    ExceptionFrame,
    LineFrame,
    ReturnFrame,
    Trace,
    without_linenos,
)
from cwm.core.tokenizer import Tokenizer
from cwm.core.tokenizer import specials as sp

START_MARKER = "  # << START_OF_TRACE"
EVENT_TOKENS: dict[type, str] = {
    CallFrame: sp.CALL_SEP,
    LineFrame: sp.LINE_SEP,
    ReturnFrame: sp.RETURN_SEP,
    ExceptionFrame: sp.EXCEPTION_SEP,
}
_FRAME_OF_TOKEN = {token: cls for cls, token in EVENT_TOKENS.items()}


class TraceText(msgspec.Struct, frozen=True, kw_only=True):
    """What the trace format holds: the parse of a rendered `Trace`."""

    source: str
    entry_line: int
    frames: list[AnyFrame]
    ended: bool

    @classmethod
    def of(cls, trace: Trace) -> TraceText:
        return cls(
            source=trace.source,
            entry_line=trace.entry_line,
            frames=without_linenos(trace.frames),
            ended=trace.ended,
        )


def mark_source(source: str, entry_line: int) -> str:
    lines = source.split("\n")
    if not 1 <= entry_line <= len(lines):
        raise FormatError(f"entry_line {entry_line} is outside the source (1..{len(lines)})")
    if any(line.endswith(START_MARKER) for line in lines):
        raise FormatError(f"the source already has a line ending in {START_MARKER.strip()!r}")
    lines[entry_line - 1] += START_MARKER
    return "\n".join(lines)


def unmark_source(marked: str) -> tuple[str, int]:
    lines = marked.split("\n")
    hits = [i for i, line in enumerate(lines) if line.endswith(START_MARKER)]
    if len(hits) != 1:
        raise FormatError(
            f"trace: the source must mark exactly one line with {START_MARKER.strip()!r}, found {len(hits)}"
        )
    lines[hits[0]] = lines[hits[0]].removesuffix(START_MARKER)
    return "\n".join(lines), hits[0] + 1


class _Scopes:
    """The previous locals of each open scope, for the ".." shorthand."""

    def __init__(self) -> None:
        self.stack: list[dict[str, str]] = []

    def enter(self, frame_type: type) -> dict[str, str]:
        """The locals this frame is compared with."""
        if frame_type is CallFrame or not self.stack:
            self.stack.append({})
        return self.stack[-1]

    def leave(self, frame_type: type, locals_: dict[str, str] | None) -> None:
        if locals_ is not None:
            self.stack[-1] = locals_
        if frame_type is ReturnFrame:
            self.stack.pop()


def _frame_pieces(frame: AnyFrame, previous: dict[str, str]) -> list[Piece]:
    out: list[Piece] = [(True, EVENT_TOKENS[type(frame)])]
    if isinstance(frame, CallFrame | LineFrame):
        shown = {k: UNCHANGED if previous.get(k) == v else v for k, v in frame.locals.items()}
        out.append((False, json.dumps(shown)))
    out += [(True, sp.ACTION_SEP), (False, frame.line)]
    if isinstance(frame, ReturnFrame | ExceptionFrame):
        out += [(True, sp.ARG_SEP), (False, json.dumps(frame.value))]
    out.append((True, sp.FRAME_SEP))
    return [p for p in out if p[0] or p[1]]


def _segments(trace: Trace | TraceText) -> tuple[list[Piece], list[list[Piece]], list[Piece]]:
    prompt: list[Piece] = [
        (True, sp.BEGIN_OF_TEXT),
        (True, sp.TRACE_CONTEXT_START),
        (False, mark_source(trace.source, trace.entry_line)),
        (True, sp.FRAME_SEP),
    ]
    scopes, frames = _Scopes(), []
    for frame in trace.frames:
        frames.append(_frame_pieces(frame, scopes.enter(type(frame))))
        scopes.leave(type(frame), getattr(frame, "locals", None))
    end: list[Piece] = [(True, sp.END_OF_TEXT)] if trace.ended else []
    return prompt, frames, end


def render_trace(trace: Trace | TraceText) -> str:
    prompt, frames, end = _segments(trace)
    return "".join(text for part in (prompt, *frames, end) for _, text in part)


class TraceSegments(msgspec.Struct, frozen=True):
    prompt: list[int]
    frames: list[list[int]]
    end: list[int]  # [<|end_of_text|>] when the trace ended, else []

    def ids(self) -> list[int]:
        return [*self.prompt, *(i for f in self.frames for i in f), *self.end]


def trace_segments(tok: Tokenizer, trace: Trace | TraceText) -> TraceSegments:
    prompt, frames, end = _segments(trace)
    return TraceSegments(
        piece_ids(tok, prompt), [piece_ids(tok, f) for f in frames], piece_ids(tok, end)
    )


@dataclass
class FrameTrace:
    """A trace as ids, with the [start, end) of each frame inside them; frames that end past
    ``max_tokens`` are left out (what next-frame scoring and trace prediction compare)."""

    id: str
    ids: list[int]
    frames: list[tuple[int, int]]

    @classmethod
    def of(cls, tok: Tokenizer, trace: Trace, max_tokens: int) -> FrameTrace:
        seg = trace_segments(tok, trace)
        spans, at = [], len(seg.prompt)
        for frame in seg.frames:
            if at + len(frame) > max_tokens:
                break
            spans.append((at, at + len(frame)))
            at += len(frame)
        return cls(trace.id, seg.ids()[:at], spans)


def encode_trace(tok: Tokenizer, trace: Trace | TraceText) -> list[int]:
    return trace_segments(tok, trace).ids()


def _json(text: str, what: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"trace: {what} is not valid JSON: {exc}") from None


def _parse_frame(cur: Cursor, token: str, previous: dict[str, str]) -> AnyFrame:
    cls = _FRAME_OF_TOKEN[token]
    locals_: dict[str, str] | None = None
    if cls in (CallFrame, LineFrame):
        shown = _json(cur.text(), "LOCALS")
        if not isinstance(shown, dict) or not all(isinstance(v, str) for v in shown.values()):
            raise FormatError("trace: LOCALS must be a JSON object of strings")
        locals_ = {}
        for k, v in shown.items():
            if v == UNCHANGED and k not in previous:
                raise FormatError(
                    f"trace: local {k!r} is '..' but has no earlier value in its scope"
                )
            locals_[k] = previous[k] if v == UNCHANGED else v
    cur.special(sp.ACTION_SEP)
    line = cur.text()
    if locals_ is not None:
        cur.special(sp.FRAME_SEP)
        return cls(line=line, locals=locals_)
    cur.special(sp.ARG_SEP)
    value = _json(cur.text(), "VALUE")
    if not isinstance(value, str):
        raise FormatError("trace: VALUE must be a JSON string")
    cur.special(sp.FRAME_SEP)
    return cls(line=line, value=value)


def _parse(pieces: list[Piece]) -> TraceText:
    cur = Cursor(pieces, "trace")
    cur.special(sp.BEGIN_OF_TEXT)
    cur.special(sp.TRACE_CONTEXT_START)
    source, entry_line = unmark_source(cur.text())
    cur.special(sp.FRAME_SEP)
    scopes, frames = _Scopes(), []
    while not cur.done() and not cur.at(sp.END_OF_TEXT):
        token = cur.special(*_FRAME_OF_TOKEN)
        cls = _FRAME_OF_TOKEN[token]
        frame = _parse_frame(cur, token, scopes.enter(cls))
        scopes.leave(cls, getattr(frame, "locals", None))
        frames.append(frame)
    ended = cur.at(sp.END_OF_TEXT)
    if ended:
        cur.special(sp.END_OF_TEXT)
        if not cur.done():
            cur.fail("nothing after <|end_of_text|>")
    return TraceText(source=source, entry_line=entry_line, frames=frames, ended=ended)


def parse_trace(text: str) -> TraceText:
    return _parse(text_pieces(text))


def decode_trace(tok: Tokenizer, ids: list[int]) -> TraceText:
    return _parse(id_pieces(tok, ids))
