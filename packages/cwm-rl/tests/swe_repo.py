"""A tiny real repository with a bug, and SWE tasks on it (SWE-bench and forage rows)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cwm.data.envs.patches import make_diff

BUGGY = '''def clamp(x, lo, hi):
    """x limited to [lo, hi]."""
    return max(lo, min(x, hi))


def total(items):
    result = 0
    for item in items:
        result += item
    return result


def mean(items):
    """The arithmetic mean of a non-empty list."""
    return total(items) // len(items)
'''
FIXED = BUGGY.replace("total(items) // len(items)", "total(items) / len(items)")
ROUNDED = BUGGY.replace("total(items) // len(items)", "round(total(items) / len(items))")
BROKEN = FIXED.replace("result += item", "result += 2 * item")

TESTS = """from mylib import clamp, mean, total


def test_clamp():
    assert clamp(-5, 0, 10) == 0 and clamp(50, 0, 10) == 10 and clamp(5, 0, 10) == 5


def test_total():
    assert total([1, 2, 3]) == 6


def test_mean_whole():
    assert mean([2, 4]) == 3
"""
HIDDEN = (
    TESTS
    + """

def test_mean_fraction():
    assert mean([1, 2]) == 1.5
"""
)
TEST_FILE = "tests/test_mylib.py"
EXISTING = [f"{TEST_FILE}::test_{n}" for n in ("clamp", "total", "mean_whole")]


def make_repo(root: Path) -> Path:
    """A git repository holding the buggy library and its visible tests."""
    root.mkdir(parents=True)
    (root / "mylib.py").write_text(BUGGY)
    (root / "tests").mkdir()
    (root / TEST_FILE).write_text(TESTS)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run([*git, *argv], cwd=root, check=True)
    (root / ".git" / "info" / "exclude").write_text("__pycache__/\n.pytest_cache/\n")
    return root


def swebench_row(image: str) -> dict:
    """An issue-fix task as a SWE-bench instance: hidden tests arrive with a test patch."""
    return {
        "instance_id": "tiny__mylib-1",
        "repo": "tiny/mylib",
        "problem_statement": "mean([1, 2]) returns 1 instead of 1.5.",
        "patch": make_diff("mylib.py", BUGGY, FIXED),
        "test_patch": make_diff(TEST_FILE, TESTS, HIDDEN),
        "FAIL_TO_PASS": f'["{TEST_FILE}::test_mean_fraction"]',
        "PASS_TO_PASS": EXISTING,
        "image": image,
    }


def forage_row(image: str) -> dict:
    """A mutate-fix task as `cwm forage` writes it: the bug is injected by a setup patch."""
    mutated = FIXED.replace("result += item", "result -= item")
    return {
        "kind": "task",
        "id": "tiny-mut-1",
        "instruction": "test_total fails; fix the bug.",
        "family": "mutate-fix",
        "image": image,
        "oracle_patch": make_diff("mylib.py", mutated, FIXED),
        "fail_to_pass": [f"{TEST_FILE}::test_total"],
        "pass_to_pass": [f"{TEST_FILE}::test_clamp"],
        "meta": {"setup_patch": make_diff("mylib.py", BUGGY, mutated)},
    }
