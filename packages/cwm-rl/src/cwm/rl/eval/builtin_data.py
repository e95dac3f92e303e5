"""The built-in datasets, made from the held-out functions of a ``cwm data build``.

    python -m cwm.rl.eval.builtin_data data/traces packages/cwm-rl/src/cwm/rl/eval/data

Held-out functions never reach a model's training split, so scoring them asks
for code the model has not seen. ``trace-prediction.jsonl`` keeps short traces
(the tracer re-runs them at evaluation time); ``output-prediction.jsonl`` keeps
plain function calls ``name(args)``, aliased as ``f``, whose true output (the
tracer's recorded result) passes the environment's own check, so the oracle
scores 100% by construction and a reader can trust every row.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cwm.core.io import read_records
from cwm.core.schemas import Trace
from cwm.rl.envs.executor import CHECK_LIMITS, TRUTH_LIMITS, Executor, check_equal

MAX_SOURCE_CHARS = 1500
MAX_FRAMES = 40
MAX_OUTPUT_CHARS = 80


def heldout_traces(dataset: Path) -> Iterator[Trace]:
    seen = set()
    for trace in sorted(read_records(dataset / "heldout"), key=lambda t: t.id):
        function = trace.meta.get("function", trace.entry)
        if trace.ended and function not in seen:  # one call per function: varied rows
            seen.add(function)
            yield trace


def trace_row(trace: Trace) -> dict[str, Any] | None:
    if len(trace.source) > MAX_SOURCE_CHARS or not 3 <= len(trace.frames) <= MAX_FRAMES:
        return None
    return {
        "id": trace.id,
        "source": trace.source,
        "call": trace.call,
        "module": trace.meta.get("module", "snippet"),
    }


def output_row(trace: Trace) -> dict[str, Any] | None:
    """A row when the call is ``entry(args)`` of a plain function and returned a short value."""
    call = ast.parse(trace.call, mode="eval").body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        return None
    if trace.outcome != "returned" or len(trace.result or "") > MAX_OUTPUT_CHARS:
        return None
    if len(trace.source) > MAX_SOURCE_CHARS or call.func.id != trace.entry:
        return None
    args = trace.call[len(call.func.id) + 1 : -1]
    code = f"{trace.source.rstrip()}\n\n\nf = {trace.entry}\n"
    return {"id": trace.id, "code": code, "input": args, "output": trace.result}


def make(dataset: Path, out: Path, *, per_file: int = 40) -> dict[str, int]:
    traces, outputs = [], []
    with Executor(CHECK_LIMITS) as checker, Executor(TRUTH_LIMITS) as tracer:
        for trace in heldout_traces(dataset):
            row = trace_row(trace) if len(traces) < per_file else None
            # kept when it runs to its end as the environment will run it
            if row and tracer.trace(row["source"], row["call"], module=row["module"]).ended:
                traces.append(row)
            if len(outputs) < per_file and (row := output_row(trace)):
                call = f"f({row['input']})"
                if check_equal(checker, row["code"], call, row["output"], id=row["id"]) == "pass":
                    outputs.append(row)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("trace-prediction", traces), ("output-prediction", outputs)):
        with open(out / f"{name}.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    return {"trace-prediction": len(traces), "output-prediction": len(outputs)}


if __name__ == "__main__":
    print(make(Path(sys.argv[1]), Path(sys.argv[2])))
