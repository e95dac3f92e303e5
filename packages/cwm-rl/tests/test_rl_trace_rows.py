"""Rows of the prediction environments made from a directory of real trace records."""

from __future__ import annotations

import json

import pytest

from cwm.core.errors import CwmError
from cwm.core.io import write_records
from cwm.core.plugins import registry
from cwm.rl.envs.executor import TRUTH_LIMITS, Executor
from cwm.rl.run.trace_rows import rows_from_traces

SOURCE = "def add(a, b):\n    c = a + b\n    return c\n"


@pytest.fixture
def traces(tmp_path):
    with Executor(TRUTH_LIMITS) as tracer:
        found = [tracer.trace(SOURCE, f"add({i}, 2)", id=f"t{i}") for i in range(3)]
    directory = tmp_path / "traces"
    directory.mkdir()
    write_records(directory / "part-0.jsonl", found)
    return directory


def test_traced_calls_become_rows_the_environments_score(traces):
    rows = rows_from_traces("trace-prediction", traces)
    assert [r["call"] for r in rows] == ["add(0, 2)", "add(1, 2)", "add(2, 2)"]
    env = registry("environment").create("trace-prediction")
    try:
        state, _ = env.start(rows[0])
        (reference,) = env.reference(state)
        assert env.step(state, reference).outcomes["frames_exact"] == 1.0
    finally:
        env.close()
    outputs = rows_from_traces("output-prediction", traces)
    assert outputs[1]["input"] == "1, 2" and json.loads(json.dumps(outputs[1]))["output"] == "3"
    assert len(rows_from_traces("trace-prediction", traces, one_per_function=True)) == 1
    with pytest.raises(CwmError, match="give math a JSONL file of rows"):
        rows_from_traces("math", traces)
