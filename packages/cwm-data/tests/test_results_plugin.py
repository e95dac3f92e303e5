"""The grader's pytest plugin, run by a real pytest: one status per test, written only at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

from cwm.data.envs.grading import RESULTS_MODULE

TESTS = """
import os
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("setup fails")

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown fails")

def test_ok(): pass
def test_fails(): assert False
def test_setup_error(broken): pass
def test_teardown_error(bad_teardown): pass
def test_skipped(): pytest.skip("no")
@pytest.mark.xfail
def test_xfail(): assert False
@pytest.mark.xfail
def test_xpass(): pass
@pytest.mark.parametrize("n", [1, 2])
def test_param(n): assert n == 1
def test_sees_no_path(): assert "CWM_TEST_RESULTS" not in os.environ
"""


def run_pytest(tmp_path: Path, tests: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "plugin").mkdir()
    plugin = files("cwm.data.envs").joinpath("results_plugin.py").read_bytes()
    (tmp_path / "plugin" / f"{RESULTS_MODULE}.py").write_bytes(plugin)
    (tmp_path / "test_cases.py").write_text(tests)
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path / "plugin"),
        "CWM_TEST_RESULTS": str(tmp_path / "results.json"),
    }
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", RESULTS_MODULE]
    return subprocess.run(
        [*argv, "test_cases.py"], cwd=tmp_path, env=env, capture_output=True, text=True
    )


def test_one_status_per_test_as_the_grader_counts_them(tmp_path: Path) -> None:
    run = run_pytest(tmp_path, TESTS)
    assert run.returncode == 1, run.stdout + run.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results == {
        "test_cases.py::test_ok": "passed",
        "test_cases.py::test_fails": "failed",
        "test_cases.py::test_setup_error": "error",
        "test_cases.py::test_teardown_error": "error",
        "test_cases.py::test_skipped": "skipped",
        "test_cases.py::test_xfail": "passed",
        "test_cases.py::test_xpass": "failed",
        "test_cases.py::test_param[1]": "passed",
        "test_cases.py::test_param[2]": "failed",
        "test_cases.py::test_sees_no_path": "passed",
    }


def test_a_run_cut_short_writes_nothing(tmp_path: Path) -> None:
    run = run_pytest(tmp_path, "import os\n\ndef test_quits():\n    os._exit(0)\n")
    assert run.returncode == 0
    assert not (tmp_path / "results.json").exists()
