"""The workspace's version check (.ci/check_versions.py, nox session ``versions``) passes on
this repository and fails, saying what to do, when a range or a changelog is off."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CHECK = REPO / ".ci" / "check_versions.py"

pytestmark = pytest.mark.skipif(not CHECK.is_file(), reason="not a source checkout")


def check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), str(root)], capture_output=True, text=True)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The packages' pyproject.toml and CHANGELOG.md files, nothing else."""
    for pyproject in REPO.glob("packages/*/pyproject.toml"):
        dest = tmp_path / pyproject.parent.relative_to(REPO)
        dest.mkdir(parents=True)
        for name in ("pyproject.toml", "CHANGELOG.md"):
            if (pyproject.parent / name).is_file():
                shutil.copy(pyproject.parent / name, dest / name)
    return tmp_path


def test_this_workspace_satisfies_every_declared_range():
    done = check(REPO)
    assert done.returncode == 0, done.stderr
    assert "every sibling range satisfied" in done.stdout


def test_a_range_the_workspace_does_not_satisfy_fails(workspace: Path):
    data = workspace / "packages" / "cwm-data" / "pyproject.toml"
    data.write_text(re.sub(r'"cwm-core[^"]*"', '"cwm-core>=99,<100"', data.read_text()))
    done = check(workspace)
    assert done.returncode == 1
    assert (
        "packages/cwm-data/pyproject.toml (dependencies): cwm-core<100,>=99 does not accept "
        "the workspace's cwm-core" in done.stderr
    )


def test_a_sibling_without_a_range_fails(workspace: Path):
    train = workspace / "packages" / "cwm-train" / "pyproject.toml"
    train.write_text(re.sub(r'"cwm-core\[torch\][^"]*"', '"cwm-core[torch]"', train.read_text()))
    done = check(workspace)
    assert done.returncode == 1
    assert "cwm-train/pyproject.toml (dependencies): cwm-core has no version range" in done.stderr


def test_a_version_without_a_changelog_entry_fails(workspace: Path):
    rl = workspace / "packages" / "cwm-rl" / "pyproject.toml"
    rl.write_text(re.sub(r'(?m)^version = ".*"$', 'version = "9.9.9"', rl.read_text(), count=1))
    done = check(workspace)
    assert done.returncode == 1
    assert "packages/cwm-rl/CHANGELOG.md: no '## 9.9.9' entry for cwm-rl 9.9.9" in done.stderr
