"""The SWE environment's tools: bash, edit, create and submit, run against a `Sandbox`.

Each tool takes the text between ``<tool: NAME>`` and ``</tool>`` and returns a
`ToolResult`; a tool never raises for a bad input, it explains it. Relative
paths are resolved against the bash session's current directory, as in a shell.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

import msgspec

from cwm.core.formats.edit import EditError, apply_edit, parse_create, parse_edit, snippet
from cwm.data.sandbox.base import Sandbox


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    output: str
    ok: bool
    submission: str | None = None  # the patch, for a successful submit


def _resolve(box: Sandbox, path: str) -> str:
    if posixpath.isabs(path):
        return posixpath.normpath(path)
    return posixpath.normpath(posixpath.join(box.session.cwd() or box.workdir, path))


def bash(box: Sandbox, command: str) -> ToolResult:
    """Run ``command`` in the sandbox's session (its timeout and output cap are the session's)."""
    result = box.session.run(command)
    output = result.output
    if result.exit_code not in (0, None):
        output = f"{output.rstrip()}\n[exit code: {result.exit_code}]".lstrip()
    return ToolResult(output=output, ok=result.exit_code == 0)


def _read_text(box: Sandbox, path: str) -> str | None:
    try:
        return box.read_file(path).decode()
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None


def edit(box: Sandbox, text: str) -> ToolResult:
    try:
        block = parse_edit(text)
    except EditError as exc:
        return ToolResult(output=str(exc), ok=False)
    path = _resolve(box, block.path)
    original = _read_text(box, path)
    if original is None:
        return ToolResult(output=f"{block.path} does not exist or is not a text file", ok=False)
    try:
        updated, line = apply_edit(original, block.search, block.replace)
    except EditError as exc:
        return ToolResult(output=f"no change made to {block.path}: {exc}", ok=False)
    box.write_file(path, updated.encode())
    n_lines = updated.count("\n") + 1
    shown = snippet(updated, line, block.replace.count("\n") + 1)
    return ToolResult(
        output=f"Edited {block.path} at line {line}; it now has {n_lines} lines. "
        f"The lines around the edit:\n{shown}",
        ok=True,
    )


def create(box: Sandbox, text: str) -> ToolResult:
    try:
        new = parse_create(text)
    except EditError as exc:
        return ToolResult(output=str(exc), ok=False)
    path = _resolve(box, new.path)
    check = box.exec(["test", "-e", path])
    if check.exit_code == 0:
        return ToolResult(output=f"{new.path} already exists; use edit to change it", ok=False)
    if box.exec(["test", "-d", posixpath.dirname(path)]).exit_code != 0:
        return ToolResult(output=f"the parent directory of {new.path} does not exist", ok=False)
    box.write_file(path, new.content.encode(), mode=0o644)
    return ToolResult(
        output=f"Created {new.path} ({new.content.count(chr(10)) + 1} lines).", ok=True
    )


def submit(box: Sandbox, text: str) -> ToolResult:
    name = text.strip().splitlines()[0].strip() if text.strip() else ""
    patch = _read_text(box, _resolve(box, name)) if name else None
    if patch is None:
        return ToolResult(output=f"cannot submit {name!r}: no such readable file", ok=False)
    if not patch.strip():
        return ToolResult(output=f"cannot submit {name}: the file is empty", ok=False)
    if not patch.startswith("diff"):
        return ToolResult(
            output=f"cannot submit {name}: a patch file starts with 'diff' (write it with git diff)",
            ok=False,
        )
    return ToolResult(
        output=f"Your submission is the patch below.\n\n{patch}\n\nCheck that it resolves the task; "
        "you may keep working and submit again. When you are done, reply without a tool call.",
        ok=True,
        submission=patch,
    )


def toolbox(box: Sandbox) -> dict[str, Callable[[str], ToolResult]]:
    """The tools by name, in the order the prompt lists them."""
    return {
        "bash": lambda text: bash(box, text),
        "edit": lambda text: edit(box, text),
        "create": lambda text: create(box, text),
        "submit": lambda text: submit(box, text),
    }
