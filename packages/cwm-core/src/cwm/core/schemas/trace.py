"""Execution traces: the frames of one traced call, as CWM renders them.

A frame is one event of the traced program: a function scope is entered
(``call``), a line is about to run (``line``), a scope exits (``return``) or an
exception is raised in it (``exception``; the scope may still catch it). The
text format (`cwm.core.formats.trace`) shows ``locals`` for call and line
frames and ``value`` for return and exception frames.

``locals`` always holds the full value of every local; the renderer writes a
value unchanged since the previous frame of the same scope as ``".."`` and the
parser restores it. The string ``".."`` is therefore reserved and tracers never
record it as a value.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from cwm.core.schemas.base import Record

UNCHANGED = ".."


# gc=False: a frame holds only strings, an int and a dict of strings, so it is never part
# of a reference cycle; traces hold many of them, and untracked ones are cheaper to make and free
class Frame(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", gc=False):
    line: str  # source text of the line, without its newline
    lineno: int | None = None  # 1-based, in Trace.source; metadata, not in the text format


class CallFrame(Frame, tag="call", kw_only=True):
    locals: dict[str, str]


class LineFrame(Frame, tag="line", kw_only=True):
    locals: dict[str, str]


class ReturnFrame(Frame, tag="return", kw_only=True):
    value: str


class ExceptionFrame(Frame, tag="exception", kw_only=True):
    value: str


AnyFrame = CallFrame | LineFrame | ReturnFrame | ExceptionFrame
EVENTS: tuple[str, ...] = ("call", "line", "return", "exception")


def event_of(frame: AnyFrame) -> str:
    """The frame's event, one of `EVENTS` (its tag)."""
    return str(type(frame).__struct_config__.tag)


#: returned / raised: the entry scope exited (the trace text ends with <|end_of_text|>);
#: truncated: a step, time or size limit stopped it (frames so far are kept);
#: crashed: the worker died (segfault, memory, os._exit); invalid: the task itself
#: is bad (syntax error, missing function, bad call expression).
Outcome = Literal["returned", "raised", "truncated", "crashed", "invalid"]


class Trace(Record, tag="trace", kw_only=True):
    source: str  # the module source, without the START_OF_TRACE marker
    entry: str  # qualified name of the traced function
    entry_line: int  # 1-based line of its ``def``: where the marker goes
    call: str  # the call expression that was traced, e.g. "f(1, [2, 3])"
    frames: list[AnyFrame] = []
    outcome: Outcome
    result: str | None = None  # repr of the returned value, or of the exception raised
    error: str | None = None  # what stopped it, for truncated / crashed / invalid
    tracer: str = ""
    meta: dict[str, Any] = {}

    @property
    def ended(self) -> bool:
        """Whether the entry scope exited, so the trace text is complete."""
        return self.outcome in ("returned", "raised")


def without_linenos(frames: list[AnyFrame]) -> list[AnyFrame]:
    """The frames as the text format sees them (line numbers dropped)."""
    return [msgspec.structs.replace(f, lineno=None) for f in frames]
