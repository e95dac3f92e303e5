"""issue-fix tasks from a SWE-bench instance record, end to end on the local sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from swe_fixtures import LIB, TESTS

from cwm.core.io import read_records
from cwm.core.schemas import Trajectory
from cwm.data.envs.patches import make_diff
from cwm.data.forager.forage import ForageConfig, forage

FEATURE = LIB.replace(
    "def total(items):\n    result = 0", "def total(items, start=0):\n    result = start"
)
NEW_TESTS = TESTS + "\n\ndef test_total_start():\n    assert total([1, 2], start=10) == 13\n"


def test_swebench_record_becomes_a_resolved_trajectory(tiny_repo: Path, tmp_path: Path) -> None:
    record = {
        "instance_id": "tiny__tiny-1",
        "repo": "example/tiny",
        "base_commit": None,
        "problem_statement": "total() should accept a start value: total([1, 2], start=10) == 13",
        "patch": make_diff("mylib.py", LIB, FEATURE),
        "test_patch": make_diff("tests/test_mylib.py", TESTS, NEW_TESTS),
        "FAIL_TO_PASS": json.dumps(["tests/test_mylib.py::test_total_start"]),
        "PASS_TO_PASS": json.dumps(
            ["tests/test_mylib.py::test_total", "tests/test_mylib.py::test_clamp_low"]
        ),
        "version": "0.1",
    }
    records = tmp_path / "swebench.jsonl"
    records.write_text(json.dumps(record) + "\n")
    out = tmp_path / "out"
    cfg = ForageConfig(
        repo=str(tiny_repo),
        out=str(out),
        tasks=1,
        sandbox="local",
        swebench=str(records),
        reward=None,
    )
    summary = forage(cfg, progress=False)
    assert summary["sandbox"] == "local" and summary["tasks"] == 1
    (trajectory,) = read_records(out / "trajectories.jsonl", Trajectory)
    assert trajectory.task.family == "issue-fix" and trajectory.task.meta["version"] == "0.1"
    assert trajectory.tests is not None and trajectory.tests.resolved
    assert trajectory.tests.statuses["tests/test_mylib.py::test_total_start"] == "passed"
    # the hidden test was never visible to the agent
    assert not any("test_total_start" in t.observation.content for t in trajectory.turns)
