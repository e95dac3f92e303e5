"""The C recorder (the ``cwm.data.trace._ctrace`` extension) and when it is used.

`TraceConfig.accelerate` chooses: ``auto`` (the default) records in C when the
extension was built with the package and in Python otherwise; ``c`` insists on
it; ``python`` always uses the pure-Python `recorder.Recorder`, which is the
reference: both record identical frames (the tests run both and compare).

The C recorder takes the event callback, the locals snapshot and the frame
records off the Python level; Python still decides, once per code object,
whether code of other files is recorded (`ScopeView`, include globs) and
what their lines are.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from time import monotonic
from types import CodeType
from typing import Any

from cwm.core.errors import CwmError
from cwm.core.schemas import CallFrame, ExceptionFrame, LineFrame, ReturnFrame
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.recorder import CodeInfo, Recorder, limit_reasons, raise_limit, unwinding
from cwm.data.trace.reprs import DOTS_REPR, TRUNCATED, value_repr
from cwm.data.trace.scope import ScopeView
from cwm.data.trace.sources import RESUME, SourceIndex, SourceLines

ACCELERATE = ("auto", "c", "python")

try:
    from cwm.data.trace import _ctrace
except ImportError:  # built without a compiler: the pure-Python recorder it is
    _ctrace = None
    #: why the C recorder is unavailable (None: it is available)
    MISSING: str | None = "cwm-data was installed without its C recorder (no C compiler?)"
else:
    MISSING = None
    _ctrace.init(
        CallFrame, LineFrame, ReturnFrame, ExceptionFrame, unwinding, TRUNCATED, DOTS_REPR, RESUME
    )


def use_c(accelerate: str) -> bool:
    """Whether ``accelerate`` (a `TraceConfig` value) means recording in C here."""
    if accelerate not in ACCELERATE:
        raise CwmError(f"unknown accelerate {accelerate!r}; choose {', '.join(ACCELERATE)}")
    if accelerate == "c" and _ctrace is None:
        raise CwmError(
            f"accelerate=c: {MISSING}; reinstall it where a C compiler and the Python headers "
            "are available, or set accelerate=python"
        )
    return accelerate != "python" and _ctrace is not None


def recorder_name(accelerate: str) -> str:
    """``c`` or ``python``: which recorder ``accelerate`` gives here."""
    return "c" if use_c(accelerate) else "python"


def make_recorder(
    *,
    entry_code: CodeType,
    filename: str,
    lines: SourceLines,
    globals_: dict[str, Any],
    config: TraceConfig,
    on_limit: Callable[[str], Any] | None = None,
    on_exit: Callable[[object, BaseException | None], Any] | None = None,
) -> Any:
    """A recorder for the trace of ``entry_code``, whose source is ``lines`` of ``filename``
    run as the module of ``globals_``: `recorder.Recorder`, or its C twin per ``config.accelerate``.

    Both have ``frames``, ``started``, ``done``, ``stopped`` and ``size``, and both
    backends accept both.
    """
    if not use_c(config.accelerate):
        return Recorder(
            entry_code=entry_code,
            index=SourceIndex(filename, lines),
            view=ScopeView(filename, config.scope, config.include, globals_),
            config=config,
            on_limit=on_limit,
            on_exit=on_exit,
        )
    # the C recorder decides code of the traced source itself; ScopeView does include globs
    include = config.include and ScopeView(filename, config.scope, config.include, globals_)
    return _ctrace.Recorder(
        entry_code,
        filename,
        lines.lines,
        globals_,
        config.scope == "entry",
        include.wants if include else None,
        _ForeignCode(filename, lines),
        on_limit or raise_limit,
        on_exit,
        _limit_reasons(config.max_steps, config.max_trace_bytes, config.max_seconds),
        config.max_steps,
        config.max_trace_bytes,
        config.max_repr,
        monotonic() + config.max_seconds,
    )


def repr_function(accelerate: str) -> Callable[[Any, int], str]:
    """`reprs.value_repr`, or the C one (the same text) where the C recorder is used."""
    return _ctrace.value_repr if use_c(accelerate) else value_repr


@lru_cache(maxsize=64)
def _limit_reasons(max_steps: int, max_trace_bytes: int, max_seconds: float) -> tuple[str, ...]:
    return limit_reasons(
        TraceConfig(max_steps=max_steps, max_trace_bytes=max_trace_bytes, max_seconds=max_seconds)
    )


class _ForeignCode:
    """`CodeInfo` for the C recorder, of code it does not handle itself (other files, decorators)."""

    def __init__(self, filename: str, lines: SourceLines):
        self.filename, self.lines = filename, lines
        self.index: SourceIndex | None = None  # made at the first call: most traces never need it

    def __call__(self, code: CodeType) -> tuple[list[str], bool, int, int, bool]:
        if self.index is None:
            self.index = SourceIndex(self.filename, self.lines)
        return CodeInfo(code, self.index).astuple()
