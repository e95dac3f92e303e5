"""The pytest plugin traces a real test suite's calls; the pytest corpus runs it for a repository."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tracing_helpers import assert_consistent, src

from cwm.core.io import read_records
from cwm.core.schemas import Trace
from cwm.data.corpora.pytest_corpus import PytestCorpus

LIB = src("""
    def mean(values):
        if not values:
            raise ValueError("mean of nothing")
        total = 0
        for v in values:
            total += v
        return total / len(values)


    def spread(values):
        m = mean(values)
        return [v - m for v in values]
    """)
TESTS = src("""
    import pytest
    from stats import mean, spread

    def test_mean():
        assert mean([1, 2, 3]) == 2

    def test_spread():
        assert spread([1.0, 3.0]) == [-1.0, 1.0]

    def test_empty():
        with pytest.raises(ValueError):
            mean([])
    """)


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "stats.py").write_text(LIB)
    (tmp_path / "test_stats.py").write_text(TESTS)
    return tmp_path


def test_the_plugin_traces_chosen_functions_while_tests_run(repo):
    out = repo / "traces.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "cwm.data.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "--cwm-trace",
            "stats.*",
            "--cwm-trace-out",
            str(out),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cwm: wrote 3 traces" in done.stdout
    traces = {t.meta["context"].split("::")[-1]: t for t in read_records(out, Trace)}
    assert set(traces) == {"test_mean", "test_spread", "test_empty"}
    for trace in traces.values():
        assert_consistent(trace)
    assert (traces["test_mean"].call, traces["test_mean"].result) == (
        "mean(values=[1, 2, 3])",
        "2.0",
    )
    assert traces["test_mean"].meta["replayable"] is True
    assert (traces["test_empty"].outcome, traces["test_empty"].result) == (
        "raised",
        "ValueError('mean of nothing')",
    )
    spread = traces["test_spread"]
    assert spread.entry == "spread" and spread.result == "[-1.0, 1.0]"
    assert sum(f.line.startswith("def mean") for f in spread.frames) == 1  # the callee is inside


def test_the_pytest_corpus_yields_the_repository_traces(repo):
    traces = list(PytestCorpus(repo, progress=False).tasks())
    functions = sorted(t.meta["function"] for t in traces)
    assert functions == ["stats.mean", "stats.mean", "stats.spread"]  # test files are not traced
    assert all(t.meta["corpus"] == f"pytest:{repo.name}" for t in traces)
