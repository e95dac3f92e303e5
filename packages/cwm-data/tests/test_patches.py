"""Diffs we make apply with real git; diffs git makes split into the right files and hunks."""

from __future__ import annotations

import subprocess
from pathlib import Path

from swe_fixtures import make_tiny_repo

from cwm.data.envs.patches import make_diff, split_files, touched_paths


def _git(repo: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, input=input, text=True, capture_output=True, check=True
    ).stdout


def test_make_diff_applies_with_git_even_without_final_newline(tmp_path: Path) -> None:
    repo = make_tiny_repo(tmp_path / "r")
    old = (repo / "mylib.py").read_text()
    cases = [old.replace("result = 0", "result = 1"), old.rstrip("\n"), old + "extra = 1"]
    for new in cases:
        diff = make_diff("mylib.py", old, new)
        assert diff.startswith("diff --git a/mylib.py b/mylib.py\n")
        _git(repo, "apply", "--check", "-", input=diff)
        _git(repo, "apply", "-", input=diff)
        assert (repo / "mylib.py").read_text() == new
        _git(repo, "checkout", "-q", "--", ".")
    assert make_diff("mylib.py", old, old) == ""


def test_split_files_reads_git_diff_output(tmp_path: Path) -> None:
    repo = make_tiny_repo(tmp_path / "r")
    (repo / "mylib.py").write_text(
        (repo / "mylib.py").read_text().replace("    return x\n", "    return int(x)\n")
    )
    (repo / "new.py").write_text("--- not a header\n+++ nor this\n")
    _git(repo, "mv", "tests/test_mylib.py", "tests/test_renamed.py")
    _git(repo, "add", "-A")
    diff = _git(repo, "diff", "--cached", "-M")
    files = {f.path: f for f in split_files(diff)}
    assert set(files) == {"mylib.py", "new.py", "tests/test_renamed.py"}
    assert (
        files["new.py"].source is None
        and files["new.py"].hunks[0].new == "--- not a header\n+++ nor this"
    )
    assert files["tests/test_renamed.py"].is_rename
    (hunk,) = files["mylib.py"].hunks
    assert "    return x" in hunk.old and "    return int(x)" in hunk.new
    assert touched_paths(diff) == [
        "mylib.py",
        "new.py",
        "tests/test_mylib.py",
        "tests/test_renamed.py",
    ]
    assert split_files("just some text") == []
