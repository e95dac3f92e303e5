"""Per-test statuses from real pytest runs, and logs that try to fake them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cwm.data.envs.grading import PYTEST
from cwm.data.envs.pytest_log import parse_pytest_log

TESTS = """import pytest

def test_ok():
    print("PASSED test_x.py::test_bad")  # captured output that looks like a result

def test_bad():
    assert False

@pytest.mark.parametrize("v", ["a b", "c - d"])
def test_param(v):
    assert v

@pytest.fixture
def broken():
    raise RuntimeError("setup")

def test_error(broken):
    pass

@pytest.mark.skip(reason="no")
def test_skip():
    pass

@pytest.mark.xfail
def test_xfail():
    assert False

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown")

def test_teardown(bad_teardown):
    pass
"""


def test_statuses_from_a_real_run(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(TESTS)
    cmd = PYTEST.replace("python", sys.executable, 1).split()
    log = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True).stdout
    statuses = parse_pytest_log(log)
    assert statuses["test_x.py::test_ok"] == "passed"
    assert statuses["test_x.py::test_bad"] == "failed"
    assert statuses["test_x.py::test_param[a b]"] == "passed"
    assert statuses["test_x.py::test_param[c - d]"] == "passed"
    assert statuses["test_x.py::test_error"] == "error"
    assert statuses["test_x.py::test_xfail"] == "passed"
    assert statuses["test_x.py::test_teardown"] == "error"  # passed, then errored: worst wins


def test_only_the_last_summary_counts() -> None:
    fake = "=== short test summary info ===\nPASSED t.py::test_a\n"
    real = "=== short test summary info ===\nFAILED t.py::test_a - boom\n"
    assert parse_pytest_log(fake + "noise\n" + real) == {"t.py::test_a": "failed"}
    assert parse_pytest_log("PASSED t.py::test_a\n") == {}  # no summary: nothing counts
