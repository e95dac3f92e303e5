"""The sys.monitoring backend (PEP 669, Python 3.12+).

It maps events exactly as CPython maps them for sys.settrace on top of
sys.monitoring (Python/legacy_tracing.c), so both backends record the same
frames: PY_START/PY_RESUME/PY_THROW open a scope; LINE, and a backward JUMP
that stays on its line, record a line; RAISE and STOP_ITERATION record an
exception; PY_RETURN and PY_YIELD close the scope with their value, PY_UNWIND
closes it with None.

Unlike sys.settrace it costs nothing in code it does not record: a code object
out of scope gets DISABLE at its first start, and line events are switched on
only for code objects in scope (``set_local_events``).

The C recorder (accel.py) brings its own callbacks (C functions, same mapping).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import CodeType
from typing import Any

from cwm.core.errors import CwmError
from cwm.data.trace.recorder import Recorder, Scope

_TOOL_NAME = "cwm-trace"
if sys.version_info >= (3, 12):
    _ev = sys.monitoring.events
    _LOCAL_EVENTS = _ev.LINE | _ev.JUMP | _ev.PY_RETURN | _ev.PY_YIELD | _ev.STOP_ITERATION


def _free_tool_id() -> int:
    mon = sys.monitoring
    for tool in (mon.DEBUGGER_ID, 3, 4, mon.PROFILER_ID, mon.COVERAGE_ID):
        if mon.get_tool(tool) is None:
            return tool
    raise CwmError("no free sys.monitoring tool id (all are in use by other tools)")


class MonitoringBackend:
    name = "monitoring"

    def run(
        self,
        recorder: Any,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        mon = sys.monitoring
        ev = mon.events
        tool = _free_tool_id()
        mon.use_tool_id(tool, _TOOL_NAME)
        instrumented: list[CodeType] = []

        def instrument(code: CodeType) -> None:
            """Line and exit events for a code object in scope (called once per code object)."""
            instrumented.append(code)
            mon.set_local_events(tool, code, _LOCAL_EVENTS)

        if isinstance(recorder, Recorder):
            registered = _Callbacks(recorder, instrument).registered()
        else:
            registered = _c_callbacks(recorder, instrument)
        try:
            for event, callback in registered.items():
                mon.register_callback(tool, event, callback)
            mon.restart_events()  # undo DISABLEs left by an earlier run with other scopes
            mon.set_events(tool, ev.PY_START | ev.PY_RESUME | ev.PY_THROW | ev.RAISE | ev.PY_UNWIND)
            return fn(*args, **kwargs)
        finally:
            mon.set_events(tool, 0)
            for code in instrumented:
                mon.set_local_events(tool, code, 0)
            for event in registered:
                mon.register_callback(tool, event, None)
            mon.free_tool_id(tool)


def _c_callbacks(recorder: Any, instrument: Callable[[CodeType], None]) -> dict[int, Any]:
    """The C recorder's callbacks (accel.py): the same mapping as `_Callbacks`, in C."""
    ev = sys.monitoring.events
    recorder.mon_watch(instrument)
    return {
        ev.PY_START: recorder.mon_start,
        ev.PY_RESUME: recorder.mon_resume,
        ev.PY_THROW: recorder.mon_throw,
        ev.LINE: recorder.mon_line,
        ev.JUMP: recorder.mon_jump,
        ev.RAISE: recorder.mon_raise,
        ev.STOP_ITERATION: recorder.mon_raise,
        ev.PY_RETURN: recorder.mon_return,
        ev.PY_YIELD: recorder.mon_return,
        ev.PY_UNWIND: recorder.mon_unwind,
    }


class _Callbacks:
    """The monitoring callbacks of one run; recorded activations form a stack."""

    def __init__(self, recorder: Recorder, instrument: Callable[[CodeType], None]):
        self.rec, self.instrument = recorder, instrument
        self.stack: list[Scope] = []
        self.instrumented: set[CodeType] = set()
        self.lines: dict[CodeType, dict[int, int]] = {}
        self.getframe = sys._getframe
        self.DISABLE = sys.monitoring.DISABLE
        self.thread = threading.get_ident()  # sys.monitoring sees every thread; we trace this one

    def _open(self, code: CodeType, fresh: bool) -> Any:
        if threading.get_ident() != self.thread:
            return None
        frame = self.getframe(2)  # the monitored frame (callback <- start/resume <- frame)
        scope = self.rec.open(frame, fresh)
        if scope is None:
            return None if self.rec.done or self.rec.may_open(code) else self.DISABLE
        if code not in self.instrumented:
            self.instrumented.add(code)
            self.instrument(code)
        self.stack.append(scope)
        return None

    def registered(self) -> dict[int, Any]:
        ev = sys.monitoring.events
        return {
            ev.PY_START: self.start,
            ev.PY_RESUME: self.resume,
            ev.PY_THROW: self.throw,
            ev.LINE: self.line,
            ev.JUMP: self.jump,
            ev.RAISE: self.raise_,
            ev.STOP_ITERATION: self.raise_,
            ev.PY_RETURN: self.ret,
            ev.PY_YIELD: self.ret,
            ev.PY_UNWIND: self.unwind,
        }

    def start(self, code: CodeType, offset: int) -> Any:
        return self._open(code, True)

    def resume(self, code: CodeType, offset: int) -> Any:
        return self._open(code, False)

    def throw(self, code: CodeType, offset: int, exc: BaseException) -> Any:
        self._open(code, False)  # a global event: DISABLE is not allowed

    def _top(self) -> Scope | None:
        """The scope of the monitored frame, if that frame is being recorded."""
        stack = self.stack
        if stack and stack[-1].frame is self.getframe(2):
            return stack[-1]
        return None

    def line(self, code: CodeType, line: int) -> Any:
        scope = self._top()
        if scope is not None:
            scope.line(line)

    def jump(self, code: CodeType, src: int, dest: int) -> Any:
        # sys.settrace reports a backward jump as a line event even within one line
        if dest > src:
            return self.DISABLE
        lines = self.lines.get(code)
        if lines is None:
            lines = self.lines[code] = _offset_lines(code)
        to_line = lines.get(dest)
        if to_line is None or to_line != lines.get(src):
            return self.DISABLE  # the target's LINE event reports it
        scope = self._top()
        if scope is not None:
            scope.line(to_line)
        return None

    def raise_(self, code: CodeType, offset: int, exc: BaseException) -> Any:
        scope = self._top()
        if scope is not None:
            scope.exception(exc)

    def ret(self, code: CodeType, offset: int, value: object) -> Any:
        scope = self._top()
        if scope is not None:
            self.stack.pop()
            scope.ret(value)

    def unwind(self, code: CodeType, offset: int, exc: BaseException) -> Any:
        scope = self._top()
        if scope is not None:
            self.stack.pop()
            scope.ret(None, unwound=True)


def _offset_lines(code: CodeType) -> dict[int, int]:
    """Instruction offset -> line number (only offsets that have a line)."""
    out: dict[int, int] = {}
    for start, end, line in code.co_lines():
        if line is not None:
            for offset in range(start, end, 2):
                out[offset] = line
    return out
