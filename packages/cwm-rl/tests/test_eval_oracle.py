"""With the oracle policy every environment scores 100% on its built-in data; runs resume."""

import json

import pytest

from cwm.rl.eval.run import evaluate
from cwm.rl.eval.task import load_task, task_names
from cwm.rl.policies import OraclePolicy

BUILTIN = [
    "output-prediction",
    "output-prediction-trace",
    "input-prediction",
    "trace-prediction",
    "trace-prediction-next-frame",
]


def test_every_builtin_task_is_listed():
    assert set(BUILTIN) <= set(task_names())


@pytest.mark.parametrize("name", BUILTIN)
def test_the_oracle_scores_full_marks(name, tmp_path):
    task = load_task(name)
    summary = evaluate(task, OraclePolicy(), out=tmp_path, limit=6, progress=False)
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert summary["score"] == 1.0 and summary["rows"] >= 6
    assert all(s["score"] == 1.0 and s["finish"] == "answered" for s in samples)
    # the reward agrees with the outcome it reads: full marks are reward 1 per sample
    assert all(s["reward"] == pytest.approx(1.0) for s in samples)
    assert summary["metrics"]["pass@1"]["mean"] == 1.0
    assert (tmp_path / "summary.md").read_text().startswith(f"# {name}: 1.000")


def test_a_run_resumes_where_it_stopped(tmp_path):
    task = load_task("output-prediction")
    evaluate(task, OraclePolicy(), out=tmp_path, limit=2, samples=2, progress=False)
    first = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert len(first) == 4
    summary = evaluate(task, OraclePolicy(), out=tmp_path, limit=3, samples=2, progress=False)
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert lines[:4] == first and len(lines) == 6  # only the new row's samples ran
    assert summary["samples"] == 6 and summary["samples_per_row"] == 2
    assert set(summary["metrics"]) >= {"pass@1", "pass@2", "majority@2", "score", "reward"}
