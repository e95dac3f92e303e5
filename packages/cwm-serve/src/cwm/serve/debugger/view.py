"""Predicted and actual frames side by side, and the agreement summary."""

from __future__ import annotations

from typing import Any

from cwm.core.schemas import AnyFrame
from cwm.core.schemas.trace import event_of
from cwm.serve.debugger.actual import Agreement, values_of
from cwm.serve.debugger.session import Predicted


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def show_frame(
    k: int, p: Predicted, actual: AnyFrame | None, *, width: int = 32, only: str | None = None
) -> str:
    f = p.frame
    tags = (
        (" [given]" if p.given else "")
        + (f" [forced {p.forced}]" if p.forced else "")
        + (" [edited]" if p.edited else "")
    )
    lines = [f"#{k} {event_of(f):9} -> {f.line.strip()}{tags}"]
    if actual is not None and (event_of(actual) != event_of(f) or actual.line != f.line):
        lines.append(f"   actual:  {event_of(actual):9} -> {actual.line.strip()}")
    mine = values_of(f)
    theirs = values_of(actual) if actual is not None else {}
    names = list(mine) + [n for n in theirs if n not in mine]
    if only is not None:
        names = [only]
    if names:
        lines.append(f"   {'name':16} {'predicted':{width}} {'actual':{width}}")
    for name in names:
        a = theirs.get(name, "-") if actual is not None else "?"
        mark = "" if actual is None else (" ok" if mine.get(name) == theirs.get(name) else " DIFF")
        lines.append(
            f"   {_cut(name, 16):16} {_cut(mine.get(name, '-'), width):{width}} "
            f"{_cut(a, width):{width}}{mark}"
        )
    return "\n".join(lines)


def summary(score: Agreement | None) -> str:
    if score is None:
        return "agreement: no actual trace to compare with"
    return (
        f"agreement: {score.exact}/{score.frames} frames exact ({score.frame_rate:.1%}), "
        f"values {score.values_equal}/{score.values} ({score.value_rate:.1%})"
    )


def as_json(
    frames: list[Predicted], aligned: list[int | None], actual: list[AnyFrame] | None
) -> list[dict[str, Any]]:
    out = []
    for p, a in zip(frames, aligned):
        real = actual[a] if actual is not None and a is not None else None
        out.append(
            {
                "event": event_of(p.frame),
                "line": p.frame.line,
                "predicted": values_of(p.frame),
                "actual": None
                if real is None
                else {"event": event_of(real), "line": real.line, "values": values_of(real)},
                "forced": p.forced,
                "edited": p.edited,
                "given": p.given,
            }
        )
    return out
