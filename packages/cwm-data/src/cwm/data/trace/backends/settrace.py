"""The sys.settrace backend (Python 3.11+).

The global trace function sees every ``call`` event and opens a recorder scope;
a recorded activation gets a local trace function for its ``line``, ``return``
and ``exception`` events, any other returns None and runs untraced. On an
exception unwind sys.settrace reports ``return`` with None, which is what the
recorder writes as the return value.

The C recorder (accel.py) is a trace function of its own: installed with
PyEval_SetTrace, it receives the same events without a Python call per event.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from cwm.data.trace.recorder import Recorder, Scope

_Local = Callable[[FrameType, str, Any], Any]


def local_tracer(scope: Scope) -> _Local:
    """The local trace function of one recorded activation."""
    tracer = scope.settrace_event
    scope.tracer = tracer
    return tracer


class SettraceBackend:
    name = "settrace"

    def run(
        self,
        recorder: Any,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        previous = sys.gettrace()
        if isinstance(recorder, Recorder):
            open_scope = recorder.open

            def on_call(frame: FrameType, event: str, arg: Any) -> _Local | None:
                if event != "call":
                    return None
                scope = open_scope(frame)
                return None if scope is None else local_tracer(scope)

            sys.settrace(on_call)
        else:
            recorder.settrace()  # the C recorder: its own trace function, for this thread
        try:
            return fn(*args, **kwargs)
        finally:
            sys.settrace(previous)
