"""`cwm forage` end to end in Docker on real registry projects: validated tasks, oracle episodes, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from swe_fixtures import REAL_REPOS

from cwm.core.cli import build_cli
from cwm.core.io import read_records
from cwm.core.schemas import Task, Trajectory


def _forage(*args: str) -> dict:
    result = CliRunner().invoke(
        build_cli(), ["forage", "--sandbox", "docker", "--reward", "none", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{") :])


@pytest.mark.parametrize("spec", REAL_REPOS)
def test_real_repository_yields_validated_mutate_fix_tasks(
    docker, spec: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    summary = _forage("--repo", spec, "--tasks", "1", "--out", str(out))
    assert summary["sandbox"] == "docker" and summary["tasks"] == 1 and summary["kept"] == 1
    (task,) = read_records(out / "tasks.jsonl", Task)
    assert task.family == "mutate-fix" and task.fail_to_pass and task.pass_to_pass
    assert task.oracle_patch.startswith("diff --git") and task.meta["setup_patch"]
    (trajectory,) = read_records(out / "trajectories.jsonl", Trajectory)
    assert trajectory.task.id == task.id and trajectory.policy == "oracle"
    assert trajectory.finish == "submitted" and trajectory.tests and trajectory.tests.resolved
    assert (out / "tried.txt").read_text().count("\tkept") == 1


def test_forage_resumes_without_redoing_work(docker, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _forage("--repo", REAL_REPOS[0], "--tasks", "1", "--out", str(out), "--seed", "3")
    again = _forage("--repo", REAL_REPOS[0], "--tasks", "2", "--out", str(out), "--seed", "3")
    assert first["kept"] == 1 and again["kept"] == 1 and again["tasks"] == 2
    assert again["episodes"] == 1  # only the new task's episode
    tried = [line.split("\t")[0] for line in (out / "tried.txt").read_text().splitlines()]
    assert len(tried) == len(set(tried))  # no mutation tried twice
    ids = [t.task.id for t in read_records(out / "trajectories.jsonl", Trajectory)]
    assert len(ids) == 2 and len(set(ids)) == 2
