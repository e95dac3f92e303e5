"""From interpreter events to trace frames: the part every tracer backend shares.

A backend (sys.settrace, sys.monitoring) reports four kinds of event for each
activation it is told to follow: it opens a `Scope` with `Recorder.open` when a
code block starts or resumes, then calls the scope's `line`, `exception` and
`ret` (``ret(None)`` when the block exits by an exception, as sys.settrace does).
The recorder turns them into `CallFrame`/`LineFrame`/`ExceptionFrame`/`ReturnFrame`
records, so every backend yields the same frames.

Recording starts at the first activation of the entry function and stops when
that activation exits. Limits (steps, wall time, text size) call
``on_limit(reason)``, which by default raises `TraceLimit` into the traced code.
"""

from __future__ import annotations

import dis
from collections.abc import Callable
from itertools import chain, islice
from operator import is_
from time import monotonic
from types import CodeType, FrameType
from typing import Any, NoReturn

from cwm.core.schemas import AnyFrame, CallFrame, ExceptionFrame, LineFrame, ReturnFrame
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.reprs import ATOMIC, local_repr, value_repr
from cwm.data.trace.scope import ScopeView
from cwm.data.trace.sources import SourceIndex, SourceLines, first_resume

_HIDDEN_IN = ("<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>")
_MISSING = object()
_CO_OPTIMIZED = 0x1  # code whose locals are fast locals (functions); class bodies lack it
_OBJECT_REPR = object.__repr__
#: immutable items whose repr is fixed by identity: a container of them is unchanged
#: when it is the same object holding the same items
_STABLE = frozenset({int, str, bytes, bool, type(None), float, complex})
_STABLE_OR_TUPLE = _STABLE | {tuple}


def _stable(items: Any) -> bool:
    """Whether the items are immutable all the way down (atoms, or tuples of atoms)."""
    kinds = set(map(type, items))
    if kinds <= _STABLE:
        return True
    return kinds <= _STABLE_OR_TUPLE and all(
        set(map(type, t)) <= _STABLE for t in items if type(t) is tuple
    )


def _shape(value: list[Any] | dict[Any, Any], head: int) -> tuple[Any, ...] | None:
    """What `_unchanged` compares next time: the container, its length, its first items."""
    items = list(islice(value.items() if type(value) is dict else value, head))
    if not _stable(items if type(value) is list else list(chain.from_iterable(items))):
        return None
    return (value, len(value) if len(value) <= head else -1, items)


def _unchanged(value: list[Any] | dict[Any, Any], shape: tuple[Any, ...] | None) -> bool:
    """Same length (or still too long to show whole) and the same first items (identity, in C)."""
    if shape is None:
        return False
    _, n, items = shape
    if len(value) != n if n >= 0 else len(value) <= len(items):
        return False  # a new length, or a long container that became short enough to show whole
    current = value.items() if type(value) is dict else value
    if type(value) is dict:
        return all(
            map(is_, chain.from_iterable(islice(current, len(items))), chain.from_iterable(items))
        )
    return all(map(is_, current, items))


class TraceLimit(BaseException):
    """A limit stopped the trace. A BaseException so ordinary ``except Exception`` misses it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CodeInfo:
    """What a scope needs to know about its code object, computed once."""

    __slots__ = ("def_line", "first_resume", "hide_names", "in_source", "lines")

    def __init__(self, code: CodeType, index: SourceIndex):
        self.in_source = code.co_filename == index.filename
        self.lines: SourceLines = index.of(code.co_filename)
        self.def_line = self.lines.def_line(code)
        self.first_resume = first_resume(code)
        # comprehension iterators (".0") and class-body bookkeeping (__module__) are noise
        self.hide_names = code.co_name in _HIDDEN_IN or not code.co_flags & _CO_OPTIMIZED

    def astuple(self) -> tuple[list[str], bool, int, int, bool]:
        """What the C recorder keeps of it (see accel.py)."""
        return self.lines.lines, self.in_source, self.def_line, self.first_resume, self.hide_names


class Recorder:
    def __init__(
        self,
        *,
        entry_code: CodeType,
        index: SourceIndex,
        view: ScopeView,
        config: TraceConfig,
        on_limit: Callable[[str], Any] | None = None,
        on_exit: Callable[[object, BaseException | None], Any] | None = None,
    ):
        self.frames: list[AnyFrame] = []
        self.entry_code, self.index, self.view = entry_code, index, view
        self.started = self.done = False
        self.stopped: str | None = None  # the limit that stopped the trace
        self.size = 0  # characters of the frames' text (lines, locals, values)
        self.max_steps, self.max_bytes = config.max_steps, config.max_trace_bytes
        self.max_repr = config.max_repr
        self.deadline = monotonic() + config.max_seconds
        self.max_seconds = config.max_seconds
        self.on_limit = on_limit or raise_limit
        #: called when the entry activation exits: (return value, exception if it raised)
        self.on_exit = on_exit
        self._info: dict[CodeType, CodeInfo] = {}
        self.default_reprs: dict[tuple[type, int], str] = {}
        self.head = config.max_repr // 3 + 1  # items of a long container its repr can show

    def info(self, code: CodeType) -> CodeInfo:
        info = self._info.get(code)
        if info is None:
            info = self._info[code] = CodeInfo(code, self.index)
        return info

    def may_open(self, code: CodeType) -> bool:
        """Whether some activation of ``code`` could still be recorded (else a backend may stop watching it)."""
        return code is self.entry_code or self.view.wants(code)

    def open(self, frame: FrameType, fresh: bool | None = None) -> Scope | None:
        """A code block starts (``fresh``) or resumes: its scope, or None when it is not recorded.

        ``fresh=None`` tells a start from a resume by the frame's instruction offset.
        """
        if self.done:
            return None
        code = frame.f_code
        if not self.started:
            if code is not self.entry_code:
                return None
            self.started = True
            entry = True
        elif not self.view.wants(code, frame):
            return None
        else:
            entry = False
        info = self.info(code)
        if fresh is None:
            fresh = frame.f_lasti <= info.first_resume
        return Scope(self, frame, info, entry, fresh)

    def check(self) -> None:
        """Stop if a limit is passed (the time is read only every 128 frames)."""
        if self.done:
            return
        n = len(self.frames)
        if n >= self.max_steps:
            self.stop(limit_reasons(self)[0])
        elif self.size > self.max_bytes:
            self.stop(limit_reasons(self)[1])
        elif not n & 127 and monotonic() > self.deadline:
            self.stop(limit_reasons(self)[2])

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
        self.done = True
        self.on_limit(reason)


def limit_reasons(limits: Recorder | TraceConfig) -> tuple[str, str, str]:
    """Why a trace stopped: at max_steps, max_trace_bytes, max_seconds (in that order)."""
    if isinstance(limits, Recorder):
        steps, size, seconds = limits.max_steps, limits.max_bytes, limits.max_seconds
    else:
        steps, size, seconds = limits.max_steps, limits.max_trace_bytes, limits.max_seconds
    return (
        f"max_steps: the trace reached {steps} frames",
        f"max_trace_bytes: the trace passed {size} characters",
        f"max_seconds: the call ran longer than {seconds:g} s",
    )


def line_text(lines: list[str], lineno: int | None) -> str:
    """Line ``lineno`` (1-based) of a file, or "" when it has none (or no number was given)."""
    return lines[lineno - 1] if lineno is not None and 0 < lineno <= len(lines) else ""


_EXITS = frozenset(
    dis.opmap[n] for n in ("RETURN_VALUE", "RETURN_CONST", "YIELD_VALUE") if n in dis.opmap
)


def unwinding(frame: FrameType) -> bool:
    """At a sys.settrace ``return`` event with None: is the frame exiting by an exception?"""
    return frame.f_code.co_code[frame.f_lasti] not in _EXITS


def raise_limit(reason: str) -> NoReturn:
    raise TraceLimit(reason)


class Scope:
    """One recorded activation: from its call frame to its return frame.

    The hot path is `line`, run for every line of recorded code. A local still
    bound to the same immutable object as in the scope's previous frame reuses
    that frame's text; an object with the default repr (``<m.C object at
    0x...>``, fixed by type and address) is looked up by type and address; a
    list or dict holding the same immutable items as before reuses its text.
    Everything else is repr'd again, since it may have changed in place.
    """

    __slots__ = (
        "entry",
        "frame",
        "hide",
        "in_source",
        "last_exc",
        "lines",
        "objs",
        "rec",
        "reprs",
        "shapes",
        "total",
        "tracer",
    )

    def __init__(self, rec: Recorder, frame: FrameType, info: CodeInfo, entry: bool, fresh: bool):
        self.rec, self.frame, self.entry = rec, frame, entry
        self.lines, self.in_source, self.hide = info.lines.lines, info.in_source, info.hide_names
        self.last_exc: BaseException | None = None
        self.objs: dict[str, Any] = {}  # immutable values of the previous frame
        self.reprs: dict[str, str] = {}  # the previous frame's locals text
        self.shapes: dict[str, Any] = {}  # lists and dicts of the previous frame, see _shape
        self.total = 0  # characters of text in the current locals
        self.tracer: Any = None  # the settrace backend's local trace function (settrace_event)
        lineno = info.def_line if fresh else frame.f_lineno
        self._add(CallFrame, lineno)

    def _snapshot(self) -> dict[str, str]:
        """The locals as repr text (and self.total updated to their length)."""
        objs, reprs, shapes, rec = self.objs, self.reprs, self.shapes, self.rec
        limit, hide = rec.max_repr, self.hide
        new_objs: dict[str, Any] = {}
        new_shapes: dict[str, Any] = {}
        out: dict[str, str] = {}
        total = 0
        for name, value in self.frame.f_locals.items():
            if objs.get(name, _MISSING) is value:
                new_objs[name] = value
                text = out[name] = reprs[name]
                total += len(text)
                continue
            if hide and (name[0] == "." or name[:2] == "__" == name[-2:]):
                continue
            t = type(value)
            if t in ATOMIC:
                new_objs[name] = value
                text = local_repr(value, limit)
            elif t.__repr__ is _OBJECT_REPR:  # "<m.C object at 0x...>": fixed by type and address
                key = (t, id(value))
                text = rec.default_reprs.get(key)
                if text is None:
                    text = rec.default_reprs[key] = local_repr(value, limit)
            elif t is list or t is dict:
                shape = shapes.get(name)
                if shape is not None and shape[0] is value and _unchanged(value, shape):
                    text = reprs[name]
                else:
                    text, shape = local_repr(value, limit), _shape(value, rec.head)
                new_shapes[name] = shape
            else:
                text = local_repr(value, limit)
            out[name] = text
            total += len(text)
        self.objs, self.reprs, self.shapes, self.total = new_objs, out, new_shapes, total
        return out

    def _add(self, kind: type, lineno: int | None) -> None:
        rec = self.rec
        text = line_text(self.lines, lineno)
        locals_ = self._snapshot()
        frames = rec.frames
        frames.append(kind(line=text, lineno=lineno if self.in_source else None, locals=locals_))
        rec.size += len(text) + self.total
        if len(frames) >= rec.max_steps or rec.size > rec.max_bytes or not len(frames) & 127:
            rec.check()

    def line(self, lineno: int) -> None:
        if not self.rec.done:
            self._add(LineFrame, lineno)

    def settrace_event(self, frame: FrameType, event: str, arg: Any) -> Any:
        """A sys.settrace local trace function for this activation (see backends.settrace)."""
        if event == "line":
            if not self.rec.done:
                self._add(LineFrame, frame.f_lineno)
            return self.tracer
        if event == "return":
            self.ret(arg, arg is None and unwinding(frame))
            return None
        if event == "exception":
            self.exception(arg[1])
        return self.tracer

    def exception(self, exc: BaseException) -> None:
        self.last_exc = exc
        if self.rec.done:
            return
        self._value(ExceptionFrame, self.frame.f_lineno, value_repr(exc, self.rec.max_repr))

    def ret(self, value: object, unwound: bool = False) -> None:
        """The activation exits: returns or yields ``value``, or ``unwound`` by an exception.

        An unwind is recorded with the value None, as sys.settrace reports it.
        """
        rec = self.rec
        if rec.done:  # stopped by a limit, or a stale scope after the entry exited
            return
        if self.entry:
            rec.done = True  # first: the entry's return frame is never over a limit
        self._value(ReturnFrame, self.frame.f_lineno, value_repr(value, rec.max_repr))
        if self.entry and rec.on_exit is not None:
            rec.on_exit(value, self.last_exc if unwound else None)

    def _value(self, kind: type, lineno: int | None, value: str) -> None:
        rec = self.rec
        text = line_text(self.lines, lineno)
        rec.frames.append(kind(line=text, lineno=lineno if self.in_source else None, value=value))
        rec.size += len(text) + len(value)
        if not rec.done:
            rec.check()
