"""Per-test results from a ``pytest -rA`` log, read so that a patch cannot fake them easily.

Only the *last* "short test summary info" section counts: text a patched module
prints while tests run (captured or not) comes before it. When a test id shows
up more than once (a test that passed and then errored in teardown), the worst
status wins. The grader also checks pytest's exit code, which the log cannot
change (see `cwm.data.envs.grading`).
"""

from __future__ import annotations

import re

from cwm.core.schemas import TestStatus

_HEADER = re.compile(r"^=+ short test summary info =+$", re.MULTILINE)
_STATUS: dict[str, TestStatus] = {
    "PASSED": "passed",
    "XFAIL": "passed",  # an expected failure behaves as intended
    "XPASS": "failed",
    "FAILED": "failed",
    "ERROR": "error",
    "SKIPPED": "skipped",
}
_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


def summary_section(log: str) -> str:
    """The text after the last summary header ("" when pytest printed none)."""
    matches = list(_HEADER.finditer(log))
    return log[matches[-1].end() :] if matches else ""


def parse_pytest_log(log: str) -> dict[str, TestStatus]:
    """``{test id: status}`` from the last short test summary of a ``pytest -rA`` run."""
    statuses: dict[str, TestStatus] = {}
    for line in summary_section(log).splitlines():
        word, _, rest = line.partition(" ")
        status = _STATUS.get(word)
        if status is None or not rest or rest.startswith("["):  # "SKIPPED [1] file:line"
            continue
        test = rest.split(" - ", 1)[0].strip() if word != "PASSED" else rest.strip()
        if not test:
            continue
        old = statuses.get(test)
        if old is None or _RANK[status] > _RANK[old]:
            statuses[test] = status
    return statuses
