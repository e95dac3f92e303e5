"""Running test files against patches of a task's repository, each run in a fresh sandbox.

What swe-testgen grades with (a generated test before and after the oracle fix) and
what best@k ranks candidates with (generated tests against each candidate patch).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

from cwm.core.schemas import Task
from cwm.data.envs.grading import PYTEST, apply_patch, is_test_path, set_up_task
from cwm.data.envs.patches import split_files
from cwm.data.sandbox.base import Sandbox


def changed_test_files(patch: str) -> tuple[list[str], str | None]:
    """The files a test patch adds or changes, and why it is not a test patch (or None)."""
    files = [f.target for f in split_files(patch) if f.target]
    if not files:
        return [], "the patch adds no file"
    if others := [f for f in files if not is_test_path(f)]:
        return files, f"a test patch may only touch test files, not {', '.join(others[:3])}"
    return files, None


def pytest_passes(
    task: Task,
    patches: Sequence[str],
    files: Sequence[str],
    start: Callable[[], Sandbox],
    *,
    timeout: float = 300.0,
) -> bool | None:
    """Whether pytest passes on ``files`` in the task's starting tree with ``patches`` applied
    in order; None when it cannot tell (a patch does not apply, the run timed out)."""
    with start() as box:
        if set_up_task(box, task):
            return None
        for i, patch in enumerate(patches):
            if patch.strip() and apply_patch(box, patch, f".cwm-run-{i}.diff"):
                return None
        paths = " ".join(shlex.quote(f) for f in files)
        result = box.run(f"{PYTEST} -q {paths}", timeout=timeout)
        return None if result.timed_out else result.exit_code == 0
