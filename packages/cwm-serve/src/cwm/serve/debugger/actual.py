"""The actual trace, from whichever tracer plugin is installed, and how predictions compare.

cwm-serve never imports a tracer: it asks ``registry("tracer")`` (cwm-data registers
``settrace`` and ``monitoring``). Predicted frame k is compared with the actual
frame the debugger's moves lead to: one frame on after a plain step, and, after a
forced return (step over), the return frame that closes the callee's scope.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from cwm.core.errors import CwmError
from cwm.core.plugins import registry
from cwm.core.schemas import AnyFrame, CallFrame, LineFrame, ReturnFrame, Trace
from cwm.serve.debugger.session import Predicted

PREFERRED = ("monitoring", "settrace")


def trace_actual(
    source: str, call: str, *, tracer: str | None = None, module: str = "snippet"
) -> tuple[Trace | None, str]:
    """(the actual trace or None, a note saying which tracer ran or why none did)."""
    names = registry("tracer").names()
    if tracer is not None:
        candidates = [tracer]
    else:
        candidates = [n for n in PREFERRED if n in names] + [n for n in names if n not in PREFERRED]
    if not candidates:
        return None, "no tracer plugin is installed (pip install cwm-data): prediction only"
    problems = []
    for name in candidates:
        try:
            trace = registry("tracer").create(name).trace(source, call, module=module)
        except CwmError as exc:
            if tracer is not None:
                raise
            problems.append(f"{name}: {exc}")
            continue
        return trace, f"actual trace by the {name!r} tracer ({trace.outcome})"
    return None, "no installed tracer could run here (" + "; ".join(problems) + "): prediction only"


def entry_line(source: str, call: str) -> int:
    """The ``def`` line of the function a call expression enters (a module-level function
    or class, or ``Class.method``), for when no tracer can tell."""
    try:
        expr = ast.parse(call, mode="eval").body
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise CwmError(f"cannot parse the call or the source: {exc}") from None
    if not isinstance(expr, ast.Call):
        raise CwmError(f"--call must be a call expression like f(1, 2), got {call!r}")
    path: list[str] = []
    node = expr.func
    while isinstance(node, ast.Attribute | ast.Call):  # Stack([1]).push -> Stack, push
        if isinstance(node, ast.Attribute):
            path.insert(0, node.attr)
            node = node.value
        else:
            node = node.func
    if isinstance(node, ast.Name):
        path.insert(0, node.id)
    scope: list[ast.stmt] = tree.body
    found: ast.AST | None = None
    for name in path:
        found = next(
            (
                d
                for d in scope
                if isinstance(d, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and d.name == name
            ),
            None,
        )
        if found is None:
            break
        scope = found.body if isinstance(found, ast.ClassDef) else []
    if isinstance(found, ast.ClassDef):
        found = next(
            (d for d in found.body if isinstance(d, ast.FunctionDef) and d.name == "__init__"), None
        )
    if not isinstance(found, ast.FunctionDef | ast.AsyncFunctionDef):
        raise CwmError(
            f"cannot find the function {call!r} enters in the source; install a "
            "tracer (pip install cwm-data) to resolve it"
        )
    return found.lineno


def _closing_return(frames: list[AnyFrame], call_index: int) -> int:
    depth = 0
    for i in range(call_index, len(frames)):
        if isinstance(frames[i], CallFrame):
            depth += 1
        elif isinstance(frames[i], ReturnFrame):
            depth -= 1
            if depth == 0:
                return i
    return len(frames)


def align(predicted: list[Predicted], actual: list[AnyFrame]) -> list[int | None]:
    """For each predicted frame, the index of the actual frame it stands for (None once
    the actual trace has run out, or after a local was set by hand)."""
    out: list[int | None] = []
    at = 0
    edited = False
    for k, p in enumerate(predicted):
        if k > 0:
            prev = out[-1]
            if p.forced == "return" and prev is not None and prev < len(actual):
                at = _closing_return(actual, prev)
            else:
                at += 1
        edited = edited or p.edited
        out.append(None if edited or at >= len(actual) else at)
    return out


@dataclass
class Agreement:
    frames: int = 0  # predicted frames with an actual counterpart
    exact: int = 0  # ... equal in event, line and locals/value
    values: int = 0  # locals (and return values) compared
    values_equal: int = 0

    @property
    def frame_rate(self) -> float:
        return self.exact / self.frames if self.frames else 0.0

    @property
    def value_rate(self) -> float:
        return self.values_equal / self.values if self.values else 0.0


def values_of(frame: AnyFrame) -> dict[str, str]:
    if isinstance(frame, CallFrame | LineFrame):
        return dict(frame.locals)
    return {"<value>": frame.value}


def agreement(predicted: list[Predicted], actual: list[AnyFrame]) -> Agreement:
    score = Agreement()
    for p, a in zip(predicted, align(predicted, actual)):
        if a is None or p.given:  # a given frame is the actual one: nothing to score
            continue
        real = actual[a]
        score.frames += 1
        mine, theirs = values_of(p.frame), values_of(real)
        keys = set(mine) | set(theirs)
        same = sum(1 for k in keys if mine.get(k) == theirs.get(k))
        score.values += len(keys)
        score.values_equal += same
        if type(p.frame) is type(real) and p.frame.line == real.line and same == len(keys):
            score.exact += 1
    return score
