"""Test data shared by cwm-data's tests: real registry projects and a tiny local repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

# three real projects from the registry, with pytest suites that run offline in seconds
REAL_REPOS = ("inflection==0.5.1", "toolz==1.2.0", "tabulate==0.10.0")

LIB = '''def clamp(x, lo, hi):
    """x limited to [lo, hi]."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def total(items):
    result = 0
    for item in items:
        result += item
    return result
'''

TESTS = """from mylib import clamp, total


def test_clamp_low():
    assert clamp(-5, 0, 10) == 0


def test_clamp_high():
    assert clamp(50, 0, 10) == 10


def test_clamp_inside():
    assert clamp(5, 0, 10) == 5


def test_total():
    assert total([1, 2, 3]) == 6
"""


def make_tiny_repo(root: Path) -> Path:
    """A git repository with a small library and its pytest tests (runs with this Python)."""
    root.mkdir(parents=True)
    (root / "mylib.py").write_text(LIB)
    (root / "tests").mkdir()
    (root / "tests" / "test_mylib.py").write_text(TESTS)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run([*git, *argv], cwd=root, check=True)
    (root / ".git" / "info" / "exclude").write_text("__pycache__/\n.pytest_cache/\n")
    return root
