"""Run rows' code in isolation: the tracer's worker pool, shared by an environment's episodes.

Both the true traces (trace prediction) and the checks of a predicted value
(``f(<input>) == <predicted>``) run here, under the tracer's limits: time, CPU,
memory, output size, no network. Episodes call from worker threads (`Env`'s
async defaults), so one lock keeps the pool's single-threaded loop safe.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings

from cwm.core.schemas import Trace
from cwm.data.trace import TraceConfig, TracePool, TraceTask

#: a check runs one comparison: seconds and output are small on purpose, so a prediction
#: that loops or floods stdout is stopped fast and scored as a failure
CHECK_LIMITS = TraceConfig(
    scope="entry", max_seconds=5.0, cpu_seconds=5.0, max_output_bytes=100_000, memory_mb=512
)
#: true traces keep long values whole, so the return frame's value can be checked
TRUTH_LIMITS = TraceConfig(max_steps=2000, max_repr=10_000)

CHECK_FUNCTION = "__cwm_check__"


class Executor:
    def __init__(self, config: TraceConfig):
        self.config = config
        self._pool: TracePool | None = None
        self._lock = threading.Lock()

    def trace(self, source: str, call: str, *, id: str = "row", module: str = "snippet") -> Trace:
        task = TraceTask(id=id, source=source, call=call, module=module)
        with self._lock:
            if self._pool is None:
                self._pool = TracePool(self.config, workers=1)
            return self._pool.trace(task)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


#: the file name model answers are parsed under: a garbled reply ("1if x else y") would
#: otherwise print a SyntaxWarning to the user's terminal for every sample
ANSWER_FILE = "<model-answer>"
warnings.filterwarnings("ignore", category=SyntaxWarning, module=re.escape(ANSWER_FILE))


def is_expression(text: str) -> bool:
    try:
        ast.parse(text, filename=ANSWER_FILE, mode="eval")
    except (SyntaxError, ValueError):
        return False
    return True


def check_equal(executor: Executor, code: str, call: str, expected: str, *, id: str) -> str:
    """Run ``call == expected`` after ``code``; ``pass``, ``fail``, ``syntax`` (not one
    expression each), ``error`` (it raised) or ``limit`` (time, memory or output ran out)."""
    if not (is_expression(call) and is_expression(expected)):
        return "syntax"
    # both sides were parsed as single expressions, so neither can escape the return line
    # (a trailing comment in either would otherwise swallow the closing parentheses)
    body = f"return bool(({call}\n) == ({expected}\n))"
    source = f"{code.rstrip()}\n\n\ndef {CHECK_FUNCTION}():\n    {body}\n"
    trace = executor.trace(source, f"{CHECK_FUNCTION}()", id=id)
    if trace.outcome == "returned":
        return "pass" if trace.result == "True" else "fail"
    if trace.outcome == "raised":
        return "error"
    if trace.outcome == "invalid":
        return "syntax"
    return "limit"
