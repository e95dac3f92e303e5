"""A pytest plugin the grader copies into the sandbox: per-test results, written only when pytest finishes.

Loaded with ``-p`` (before conftest files and test modules are imported), it
takes the results path from ``CWM_TEST_RESULTS`` and removes the variable, so
code under test does not find it there. At the end of the session it writes
``{node id: status}`` as JSON. A run cut short (``os._exit`` after printing a
forged summary, a crash) writes nothing, and the grader counts every test as
failed. This raises the bar rather than sealing it: code under test can still
find the path (in /proc/self/environ) and forge the file. Standalone: the
sandbox's Python has pytest, not cwm.
"""

import json
import os

_PATH = os.environ.pop("CWM_TEST_RESULTS", None)
_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
_statuses = {}


def _status(report):
    xfail = hasattr(report, "wasxfail")
    if report.when != "call":  # setup or teardown
        if report.failed:
            return "error"
        return "skipped" if report.skipped and not xfail else "passed"
    if xfail:  # an expected failure that failed behaves as intended; one that passed did not
        return "passed" if report.skipped else "failed"
    return report.outcome


def pytest_runtest_logreport(report):
    # a test reports setup, call and teardown: the worst of them is its status
    status, old = _status(report), _statuses.get(report.nodeid, "passed")
    _statuses[report.nodeid] = max(status, old, key=_RANK.__getitem__)


def pytest_sessionfinish(session, exitstatus):
    if _PATH:
        with open(_PATH + ".tmp", "w") as out:
            json.dump(_statuses, out)
        os.replace(_PATH + ".tmp", _PATH)
