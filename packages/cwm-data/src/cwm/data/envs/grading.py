"""Grading a patch with the task's hidden tests, in a fresh sandbox, as SWE-bench does.

1. Start a fresh sandbox from the task's image and set up the task (its setup
   patch, committed, or its base commit).
2. Apply the patch (``git apply``, then ``patch --fuzz``).
3. Undo whatever the patch did to test files (``test_*.py``, ``*_test.py``,
   ``conftest.py``, ``tests/``, and the files of the hidden test patch), then
   apply the hidden test patch.
4. Run the test command (by default pytest on exactly the FAIL_TO_PASS and
   PASS_TO_PASS tests) and read per-test results: from the file our pytest
   plugin writes when the session finishes (`results_plugin`), or, for a
   task's own test command, from its log.

Resolved means every FAIL_TO_PASS and PASS_TO_PASS test passed (a test missing
from the results failed) *and* the test command exited 0: a log that claims
success while the exit code says failure is a failure, and a run cut short
before pytest finished (``os._exit(0)`` after printing a forged summary)
leaves no results file, so every test failed.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
from collections.abc import Callable
from importlib.resources import files

from cwm.core.schemas import Task, TestOutcome, TestStatus
from cwm.data.envs.patches import touched_paths
from cwm.data.envs.pytest_log import parse_pytest_log
from cwm.data.sandbox.base import ExecResult, Sandbox

PYTEST = "python -m pytest -rA --tb=short -p no:cacheprovider"
RESULTS_MODULE = "cwm_test_results"  # results_plugin.py, as copied into the sandbox
_TEST_PATH = re.compile(r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.py$|conftest\.py$)")
LOG_TAIL = 20_000


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def apply_patch(box: Sandbox, patch: str, name: str) -> str | None:
    """Apply ``patch`` in the sandbox's repository; the error text when it does not apply."""
    path = f"{box.scratch}/{name}"
    box.write_file(path, patch.encode() if patch.endswith("\n") else (patch + "\n").encode())
    # neither attempt leaves a partial apply behind (git apply is all or nothing, patch
    # runs dry first), so what earlier patches did to the tree stays
    fuzzy = f"patch --batch --fuzz=5 -p1 -i {path}"
    attempts = [f"git apply --whitespace=nowarn {path}", f"{fuzzy} --dry-run >/dev/null && {fuzzy}"]
    errors = []
    for command in attempts:
        result = box.run(command, timeout=60)
        if result.ok:
            return None
        errors.append(result.output.strip()[-500:])
    return "the patch does not apply: " + " | ".join(errors)


def set_up_task(box: Sandbox, task: Task) -> str | None:
    """Bring a fresh sandbox to the task's starting state; the error text on failure."""
    setup = str(task.meta.get("setup_patch") or "")
    if setup:
        error = apply_patch(box, setup, ".cwm-setup.diff")
        if error:
            return f"the task's setup patch does not apply: {error}"
        ident = "-c user.name=cwm -c user.email=cwm@localhost"
        result = box.run(
            f"git add -A && git {ident} commit -q -m 'task: starting state'", timeout=60
        )
        return (
            None if result.ok else f"committing the task's starting state failed: {result.output}"
        )
    if task.base_commit:
        result = box.run(f"git checkout -q {shlex.quote(task.base_commit)}", timeout=60)
        return None if result.ok else f"base commit {task.base_commit} is missing: {result.output}"
    return None


def _protect_tests(box: Sandbox, task: Task) -> None:
    """Undo the patch's changes to test files, so the hidden tests run as written."""
    changed = box.run("git status --porcelain --untracked-files=all -z", timeout=60).output
    paths = {entry[3:] for entry in changed.split("\0") if len(entry) > 3}
    paths = {p for p in paths if is_test_path(p)} | set(touched_paths(task.test_patch))
    for path in sorted(paths):
        q = shlex.quote(path)
        box.run(f"git checkout -q HEAD -- {q} 2>/dev/null || rm -rf -- {q}", timeout=60)


def grade(
    task: Task,
    patch: str,
    start: Callable[[], Sandbox],
    *,
    timeout: float = 600.0,
) -> TestOutcome:
    """Run the hidden tests on ``patch`` in a fresh sandbox made by ``start``."""
    if not patch.strip():
        return TestOutcome(resolved=False, error="empty patch")
    with start() as box:
        if error := set_up_task(box, task):
            return TestOutcome(resolved=False, error=error)
        if error := apply_patch(box, patch, ".cwm-patch.diff"):
            return TestOutcome(resolved=False, error=error)
        _protect_tests(box, task)
        if task.test_patch and (error := apply_patch(box, task.test_patch, ".cwm-tests.diff")):
            return TestOutcome(resolved=False, error=f"hidden tests: {error}")
        if task.test_command:
            result = box.run(task.test_command, timeout=timeout)
            found, where = parse_pytest_log(result.output), "log"
        else:
            result, found = _run_pytest(box, task, timeout)
            where = "results"
    return judge(task, result, found, where)


def _run_pytest(box: Sandbox, task: Task, timeout: float) -> tuple[ExecResult, dict | None]:
    """Our pytest command with the results plugin; the results it wrote (None: it never finished)."""
    plugin = files("cwm.data.envs").joinpath("results_plugin.py").read_bytes()
    box.write_file(f"{box.scratch}/{RESULTS_MODULE}.py", plugin)
    path = f"{box.scratch}/.cwm-results-{secrets.token_hex(8)}.json"
    env = f"PYTHONPATH={shlex.quote(box.scratch)}${{PYTHONPATH:+:$PYTHONPATH}}"
    tests = " ".join(map(shlex.quote, [*task.fail_to_pass, *task.pass_to_pass]))
    command = f"{env} CWM_TEST_RESULTS={shlex.quote(path)} {PYTEST} -p {RESULTS_MODULE} {tests}"
    result = box.run(command, timeout=timeout)
    try:
        results = json.loads(box.read_file(path))
    except (FileNotFoundError, ValueError):
        return result, None
    return result, results if isinstance(results, dict) else None


def judge(
    task: Task, result: ExecResult, found: dict[str, TestStatus] | None, where: str
) -> TestOutcome:
    """The verdict on one test run: the per-test statuses ``found`` in the ``where`` (the log,
    or the results file; None when pytest never wrote it), checked against the exit code."""
    exit_code, log = result.exit_code, result.output
    wanted = [*task.fail_to_pass, *task.pass_to_pass]
    statuses: dict[str, TestStatus] = {t: (found or {}).get(t, "failed") for t in wanted}
    all_passed = bool(wanted) and all(s == "passed" for s in statuses.values())
    error = None
    if result.timed_out:
        error = "the tests timed out"
    elif found is None:
        error = "pytest never finished: it wrote no results (the run was cut short)"
    elif all_passed and exit_code != 0:
        error = f"every test passed but the test command exited with {exit_code}"
    elif missing := [t for t in wanted if t not in found]:
        error = f"{len(missing)} test(s) missing from the {where}, counted as failed: {missing[:3]}"
    return TestOutcome(
        resolved=all_passed and exit_code == 0 and not result.timed_out,
        exit_code=exit_code,
        statuses=statuses,
        log=log[-LOG_TAIL:],
        error=error,
    )
