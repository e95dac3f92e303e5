"""examples/env-plugin installed as a third party would: its environment and reward appear
through the ``cwm`` entry point, ``cwm eval`` runs its task with the oracle at full marks,
and its own tests pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "env-plugin"
CWM = [sys.executable, "-c", "from cwm.core.cli import main; main()"]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to build and install the example")
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(EXAMPLE)],
        check=True,
        capture_output=True,
    )
    return target


def run(args: list[str], target: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


def test_the_environment_and_reward_are_listed(target) -> None:
    listed = run([*CWM, "plugins", "--json"], target)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["plugins"]
    for kind, name in (("environment", "arithmetic"), ("reward", "closeness")):
        assert {"kind": kind, "name": name, "package": "cwm-env-example"} in rows


def test_cwm_eval_runs_the_example_task_with_the_oracle(target, tmp_path) -> None:
    task = target / "cwm_env_example" / "tasks" / "arithmetic.toml"
    out = tmp_path / "run"
    result = run(
        [*CWM, "eval", str(task), "--policy", "oracle", "--out", str(out), "--quiet"], target
    )
    assert result.returncode == 0, result.stderr
    assert "arithmetic: score 1.0000" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == 6 and summary["metrics"]["reward"]["mean"] == 1.0


def test_the_example_s_own_tests_pass(target) -> None:
    own = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        target,
    )
    assert own.returncode == 0, own.stdout + own.stderr
