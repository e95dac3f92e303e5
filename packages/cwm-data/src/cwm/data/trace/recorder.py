"""From interpreter events to trace frames: the part every tracer backend shares.

A backend (sys.settrace, sys.monitoring) reports four kinds of event for each
activation it is told to follow: it opens a `Scope` with `Recorder.open` when a
code block starts or resumes, then calls the scope's `line`, `exception` and
`ret` (``ret(None)`` when the block exits by an exception, as sys.settrace does).
The recorder turns them into `CallFrame`/`LineFrame`/`ExceptionFrame`/`ReturnFrame`
records, so every backend yields the same frames.

Recording starts at the first activation of the entry function and stops when
that activation exits. Limits (steps, wall time, rendered size) call
``on_limit(reason)``, which by default raises `TraceLimit` into the traced code.
"""

from __future__ import annotations

from collections.abc import Callable
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


class TraceLimit(BaseException):
    """A limit stopped the trace. A BaseException so ordinary ``except Exception`` misses it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _CodeInfo:
    """What a scope needs to know about its code object, computed once."""

    __slots__ = ("def_line", "first_resume", "hide_names", "in_source", "lines")

    def __init__(self, code: CodeType, index: SourceIndex):
        self.in_source = code.co_filename == index.filename
        self.lines: SourceLines = index.of(code.co_filename)
        self.def_line = self.lines.def_line(code)
        self.first_resume = first_resume(code)
        # comprehension iterators (".0") and class-body bookkeeping (__module__) are noise
        self.hide_names = code.co_name in _HIDDEN_IN or not code.co_flags & _CO_OPTIMIZED


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
        self.size = 0  # approximate length of the rendered frames
        self.max_steps, self.max_bytes = config.max_steps, config.max_trace_bytes
        self.max_repr = config.max_repr
        self.deadline = monotonic() + config.max_seconds
        self.max_seconds = config.max_seconds
        self.on_limit = on_limit or _raise
        #: called when the entry activation exits: (return value, exception if it raised)
        self.on_exit = on_exit
        self._info: dict[CodeType, _CodeInfo] = {}

    def info(self, code: CodeType) -> _CodeInfo:
        info = self._info.get(code)
        if info is None:
            info = self._info[code] = _CodeInfo(code, self.index)
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

    def add(self, frame: AnyFrame, size: int) -> None:
        frames = self.frames
        frames.append(frame)
        self.size += size
        if self.done:  # the entry's return frame: the trace is complete
            return
        n = len(frames)
        if n >= self.max_steps:
            self.stop(f"max_steps: the trace reached {self.max_steps} frames")
        elif self.size > self.max_bytes:
            self.stop(f"max_trace_bytes: the trace text passed {self.max_bytes} bytes")
        elif not n & 127 and monotonic() > self.deadline:
            self.stop(f"max_seconds: the call ran longer than {self.max_seconds:g} s")

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
        self.done = True
        self.on_limit(reason)


def _raise(reason: str) -> NoReturn:
    raise TraceLimit(reason)


class Scope:
    """One recorded activation: from its call frame to its return frame."""

    __slots__ = (
        "entry", "frame", "hide", "in_source", "last_exc", "lines", "max_repr", "objs", "rec", "reprs",
    )  # fmt: skip

    def __init__(self, rec: Recorder, frame: FrameType, info: _CodeInfo, entry: bool, fresh: bool):
        self.rec, self.frame, self.entry = rec, frame, entry
        self.lines, self.in_source, self.hide = info.lines, info.in_source, info.hide_names
        self.max_repr = rec.max_repr
        self.last_exc: BaseException | None = None
        self.objs: dict[str, Any] = {}  # atomic values of the previous frame, to reuse their repr
        self.reprs: dict[str, str] = {}
        lineno = info.def_line if fresh else frame.f_lineno
        text = self.lines.line(lineno)
        locals_, size = self._snapshot()
        rec.add(
            CallFrame(line=text, lineno=lineno if self.in_source else None, locals=locals_),
            size + len(text),
        )

    def _snapshot(self) -> tuple[dict[str, str], int]:
        """The locals as repr text, and how much of it changed since this scope's last frame."""
        objs, reprs, limit = self.objs, self.reprs, self.max_repr
        new_objs: dict[str, Any] = {}
        out: dict[str, str] = {}
        size = 2
        for name, value in self.frame.f_locals.items():
            if self.hide and (name[0] == "." or name[:2] == "__" == name[-2:]):
                continue
            if type(value) in ATOMIC:
                new_objs[name] = value
                if objs.get(name, _MISSING) is value:
                    out[name] = reprs[name]
                    size += len(name) + 8
                    continue
            text = local_repr(value, limit)
            out[name] = text
            size += len(name) + 8 if reprs.get(name) == text else len(name) + len(text) + 6
        self.objs, self.reprs = new_objs, out
        return out, size

    def line(self, lineno: int) -> None:
        if self.rec.stopped:
            return
        text = self.lines.line(lineno)
        locals_, size = self._snapshot()
        self.rec.add(
            LineFrame(line=text, lineno=lineno if self.in_source else None, locals=locals_),
            size + len(text),
        )

    def exception(self, exc: BaseException) -> None:
        self.last_exc = exc
        if self.rec.stopped:
            return
        lineno = self.frame.f_lineno
        text, value = self.lines.line(lineno), value_repr(exc, self.max_repr)
        self.rec.add(
            ExceptionFrame(line=text, lineno=lineno if self.in_source else None, value=value),
            len(text) + len(value) + 6,
        )

    def ret(self, value: object, unwound: bool = False) -> None:
        """The activation exits: returns or yields ``value``, or ``unwound`` by an exception.

        An unwind is recorded with the value None, as sys.settrace reports it.
        """
        rec = self.rec
        if rec.stopped:
            return
        lineno = self.frame.f_lineno
        text, shown = self.lines.line(lineno), value_repr(value, self.max_repr)
        if self.entry:
            rec.done = True  # before add(): the entry's return frame is never over a limit
        rec.add(
            ReturnFrame(line=text, lineno=lineno if self.in_source else None, value=shown),
            len(text) + len(shown) + 6,
        )
        if self.entry and rec.on_exit is not None:
            rec.on_exit(value, self.last_exc if unwound else None)
