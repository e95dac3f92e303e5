"""Rows of the prediction environments from a directory of trace records (a
`cwm data build` split such as ``runs/demo/data/train``): each traced call that fits
becomes a row, as the evaluation's built-in data is made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cwm.core.errors import CwmError
from cwm.core.io import read_records
from cwm.core.schemas import Trace
from cwm.rl.eval.builtin_data import output_row, trace_row

#: how a traced call becomes a row of each environment that can learn from traces
ROWS_FROM_TRACES: dict[str, Callable[[Trace], dict[str, Any] | None]] = {
    "trace-prediction": trace_row,
    "output-prediction": output_row,
    "input-prediction": output_row,
}


def rows_from_traces(
    environment: str, directory: Path, *, one_per_function: bool = False
) -> list[dict[str, Any]]:
    """The rows, in trace-id order (``one_per_function``: the first call of each function,
    for varied evaluation rows)."""
    to_row = ROWS_FROM_TRACES.get(environment)
    if to_row is None:
        raise CwmError(
            f"{directory}: a directory of traces makes rows only for "
            f"{', '.join(ROWS_FROM_TRACES)}; give {environment} a JSONL file of rows"
        )
    rows, seen = [], set()
    for trace in sorted(read_records(directory), key=lambda t: t.id):
        key = trace.meta.get("function", trace.entry) if one_per_function else trace.id
        if trace.ended and key not in seen and (row := to_row(trace)) is not None:
            seen.add(key)
            rows.append(row)
    if not rows:
        raise CwmError(f"{directory}: no trace there makes a {environment} row")
    return rows
