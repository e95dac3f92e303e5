"""Unified diffs in git's format: making them, and splitting them into files and hunks.

`make_diff` writes what ``git diff`` would for one file's change (``diff --git``
header, ``\\ No newline at end of file`` markers), so ``git apply`` takes it.
`split_files` cuts any ``git diff`` / ``diff -u`` output into per-file parts,
which the grader (which files does a test patch touch?), the oracle policy
(hunks to edits) and the patch-similarity reward (per-file bodies) read.
"""

from __future__ import annotations

import difflib
import re

import msgspec

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
NO_NEWLINE = "\\ No newline at end of file"


def make_diff(path: str, old: str, new: str, *, context: int = 3) -> str:
    """The git-style diff turning ``old`` into ``new`` at ``path``; "" when they are equal."""
    if old == new:
        return ""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}", n=context))
    out = [f"diff --git a/{path} b/{path}\n"]
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:  # the last line of a file without a final newline
            out.append(line + "\n" + NO_NEWLINE + "\n")
    return "".join(out)


class Hunk(msgspec.Struct, frozen=True):
    header: str  # the @@ line
    lines: list[str]  # each with its ' ', '-', '+' or '\\' prefix, without newline

    @property
    def old(self) -> str:
        """The lines the hunk expects (context and removed), joined."""
        return "\n".join(line[1:] for line in self.lines if line[:1] in (" ", "-"))

    @property
    def new(self) -> str:
        return "\n".join(line[1:] for line in self.lines if line[:1] in (" ", "+"))

    def text(self) -> str:
        return "\n".join([self.header, *self.lines])


class FilePatch(msgspec.Struct, frozen=True, kw_only=True):
    source: str | None  # old path without "a/"; None for a new file
    target: str | None  # new path without "b/"; None for a deleted file
    hunks: list[Hunk] = []
    binary: bool = False

    @property
    def path(self) -> str:
        return self.target or self.source or ""

    @property
    def is_rename(self) -> bool:
        return self.source is not None and self.target is not None and self.source != self.target


def _strip(path: str, prefix: str) -> str | None:
    path = path.split("\t", 1)[0].strip()
    if path == "/dev/null":
        return None
    return path[2:] if path.startswith(prefix) else path


def split_files(diff: str) -> list[FilePatch]:
    """The per-file parts of a unified diff; text that is not a diff gives ``[]``."""
    files: list[FilePatch] = []
    cur: dict | None = None
    hunk: list[str] | None = None

    def flush() -> None:
        nonlocal cur, hunk
        if cur is not None:
            if hunk is not None:
                cur["hunks"].append(Hunk(hunk[0], hunk[1:]))
            if cur["source"] is not None or cur["target"] is not None:
                files.append(FilePatch(**cur))
        cur, hunk = None, None

    for line in diff.splitlines():
        if line.startswith("diff --git "):
            flush()
            m = re.match(r"diff --git a/(.*) b/(.*)$", line)
            src, dst = (m.group(1), m.group(2)) if m else (None, None)
            cur = {"source": src, "target": dst, "hunks": [], "binary": False}
        elif line.startswith("--- ") and (hunk is None or not _in_hunk(hunk)):
            if cur is None or cur["hunks"] or hunk is not None:
                flush()
                cur = {"source": None, "target": None, "hunks": [], "binary": False}
            cur["source"] = _strip(line[4:], "a/")
        elif line.startswith("+++ ") and cur is not None and hunk is None:
            cur["target"] = _strip(line[4:], "b/")
        elif cur is not None and line.startswith(("rename from ", "rename to ")):
            key = "source" if line.startswith("rename from ") else "target"
            cur[key] = line.split(" ", 2)[2]
        elif cur is not None and line.startswith("new file mode"):
            cur["source"] = None
        elif cur is not None and line.startswith("deleted file mode"):
            cur["target"] = None
        elif cur is not None and line.startswith(("Binary files", "GIT binary patch")):
            cur["binary"] = True
        elif cur is not None and _HUNK.match(line):
            if hunk is not None:
                cur["hunks"].append(Hunk(hunk[0], hunk[1:]))
            hunk = [line]
        elif hunk is not None and _belongs(hunk, line):
            hunk.append(line or " ")  # an empty line is context whose space was lost
    flush()
    return files


def _belongs(hunk: list[str], line: str) -> bool:
    return line[:1] == "\\" or (line[:1] in ("", " ", "-", "+") and _in_hunk(hunk))


def _in_hunk(hunk: list[str]) -> bool:
    """Whether the hunk still expects lines (so '--- x' is a removed line, not a header)."""
    m = _HUNK.match(hunk[0])
    if m is None:
        return False
    old = int(m.group(2)) if m.group(2) is not None else 1
    new = int(m.group(4)) if m.group(4) is not None else 1
    seen_old = sum(1 for line in hunk[1:] if line[:1] in (" ", "-"))
    seen_new = sum(1 for line in hunk[1:] if line[:1] in (" ", "+"))
    return seen_old < old or seen_new < new


def touched_paths(diff: str) -> list[str]:
    """Every path a diff reads or writes."""
    out: list[str] = []
    for f in split_files(diff):
        for p in (f.source, f.target):
            if p and p not in out:
                out.append(p)
    return out
