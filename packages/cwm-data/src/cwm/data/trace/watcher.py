"""`Watcher`: trace every call of chosen functions while other code runs (a test suite, a script).

Unlike `trace_call`, nothing is called for you: the watcher waits for the
interpreter to enter a chosen function, records that activation (and the
functions it reaches, per the config's scope) and hands a finished Trace to
``emit`` when it exits. It uses sys.settrace in the calling thread; a limit
ends the recording (outcome ``truncated``) without disturbing the code that runs.

The trace's source is the whole module file of the function, and its ``call``
is written from the argument values, ``f(x=1, y='a')``; ``meta["replayable"]``
says whether every argument is a literal, so that the call could be run again.
"""

from __future__ import annotations

import ast
import contextlib
import linecache
import sys
from collections import Counter
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

from cwm.core.schemas import Outcome, Trace
from cwm.data.trace.backends.settrace import local_tracer
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.recorder import Recorder
from cwm.data.trace.reprs import value_repr
from cwm.data.trace.scope import ScopeView
from cwm.data.trace.sources import SourceIndex, SourceLines
from cwm.data.trace.target import normalize_source

Wanted = Callable[[CodeType, FrameType], bool]


class Watcher:
    def __init__(
        self,
        wanted: Wanted,
        emit: Callable[[Trace], Any],
        config: TraceConfig | None = None,
        max_per_function: int = 20,
    ):
        self.wanted, self.emit = wanted, emit
        self.config = config or TraceConfig()
        self.max_per_function = max_per_function
        self.counts: Counter[CodeType] = Counter()
        self.context: str = ""  # e.g. the running test, stored in meta["context"]
        self._rec: Recorder | None = None
        self._start: dict[str, Any] = {}
        self._previous: Any = None
        self._decisions: dict[CodeType, bool] = {}

    def start(self) -> None:
        self._previous = sys.gettrace()
        sys.settrace(self._on_call)

    def stop(self) -> None:
        sys.settrace(self._previous)
        if self._rec is not None:  # still inside a watched call (it never returned)
            self._finish("truncated", None, "the watch stopped before the call returned")

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _on_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        rec = self._rec
        if rec is not None:
            scope = rec.open(frame)
            return None if scope is None else local_tracer(scope)
        code = frame.f_code
        wanted = self._decisions.get(code)
        if wanted is None:
            try:
                wanted = self._decisions[code] = bool(self.wanted(code, frame))
            except Exception:
                wanted = self._decisions[code] = False
        if not wanted or self.counts[code] >= self.max_per_function:
            return None
        return self._begin(frame)

    def _begin(self, frame: FrameType) -> Any:
        code = frame.f_code
        source = normalize_source("".join(linecache.getlines(code.co_filename, frame.f_globals)))
        if not source:
            self._decisions[code] = False
            return None
        self.counts[code] += 1
        lines = SourceLines(source)
        rec = self._rec = Recorder(
            entry_code=code,
            index=SourceIndex(code.co_filename, lines),
            view=ScopeView(code.co_filename, self.config.scope, self.config.include),
            config=self.config,
            on_limit=lambda reason: self._finish("truncated", None, reason),
            on_exit=self._exited,
        )
        module = frame.f_globals.get("__name__", "")
        call, replayable = _call_text(code, frame)
        self._start = {
            "source": source,
            "entry": code.co_qualname,
            "entry_line": lines.def_line(code),
            "call": call,
            "function": f"{module}.{code.co_qualname}",
            "replayable": replayable,
            "n": self.counts[code],
        }
        scope = rec.open(frame, fresh=True)
        return None if scope is None else local_tracer(scope)

    def _exited(self, value: object, exc: BaseException | None) -> None:
        limit = self.config.max_result_repr
        if exc is None:
            self._finish("returned", value_repr(value, limit), None)
        else:
            self._finish("raised", value_repr(exc, limit), None)

    def _finish(self, outcome: Outcome, result: str | None, error: str | None) -> None:
        rec, start = self._rec, self._start
        if rec is None:
            return
        self._rec = None
        rec.done = True
        if rec.stopped is None and outcome == "truncated":
            rec.stopped = error
        trace = Trace(
            id=f"{start['function']}:{start['n']}",
            source=start["source"],
            entry=start["entry"],
            entry_line=start["entry_line"],
            call=start["call"],
            frames=list(rec.frames),
            outcome=outcome,
            result=result,
            error=error,
            tracer="settrace",
            meta={
                "function": start["function"],
                "replayable": start["replayable"],
                "context": self.context,
                "steps": len(rec.frames),
            },
        )
        with contextlib.suppress(Exception):  # a failing sink must not break the watched code
            self.emit(trace)


def _call_text(code: CodeType, frame: FrameType) -> tuple[str, bool]:
    """``name(a=1, b='x')`` from the arguments at entry, and whether all of them are literals."""
    n = code.co_argcount + code.co_kwonlyargcount
    names = list(code.co_varnames[:n])
    flags = code.co_flags
    if flags & 0x04:  # CO_VARARGS
        names.append(code.co_varnames[n])
    if flags & 0x08:  # CO_VARKEYWORDS
        names.append(code.co_varnames[n + bool(flags & 0x04)])
    values = frame.f_locals
    parts, replayable = [], True
    for name in names:
        text = value_repr(values.get(name), 200)
        try:
            ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            replayable = False
        parts.append(f"{name}={text}")
    return f"{code.co_name}({', '.join(parts)})", replayable
