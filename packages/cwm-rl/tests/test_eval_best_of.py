"""``cwm eval swe --best-of``: K patches and K reproduction tests per row through the harness;
pass@1, majority@K and best@K side by side in summary.json (local sandbox)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rl_fixtures import write_rows
from swe_repo import make_repo, swebench_row
from test_best_at_k import BREAKS, RIGHT, WRONG, new_test

from cwm.core.cli import build_cli
from cwm.core.envs import Action
from cwm.rl.eval.best_of import evaluate_best_of
from cwm.rl.eval.task import load_task

LOCAL = ["env_options.sandbox=local", "env_options.test_timeout=60.0"]
# the right patch is a minority; the generated tests single it out
PATCHES = [WRONG, WRONG, RIGHT, WRONG, BREAKS]
TESTS = [
    new_test("assert mean([1, 2]) == 1.5"),
    new_test("assert mean([2, 4]) == 3"),  # reproduces nothing
    new_test("assert mean([1, 2])  ==  1.5"),
    new_test("assert mean([1, 2, 3, 4]) == 2.5", "tests/test_other.py"),
    new_test("assert mean([1, 2]) == 1.5"),
]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bestof")
    return write_rows(root / "swebench.jsonl", [swebench_row(str(make_repo(root / "mylib")))])


class Scripted:
    """Sample k applies and submits PATCHES[k] in swe, TESTS[k] in swe-testgen."""

    name = "scripted"
    context_len = 1 << 30

    def for_episode(self, env, state):
        return _Script(env, state)


class _Script:
    name = "scripted"
    context_len = 1 << 30

    def __init__(self, env, state):
        self.env, self.state, self.turns = env, state, None

    async def act(self, context, sampling):
        if self.turns is None:
            script = TESTS if self.env.name == "swe-testgen" else PATCHES
            self.turns = iter(self.env.replay(self.state, script[sampling.seed], "scripted"))
        return Action(tokens=next(self.turns, []))


def test_best_of_picks_the_minority_fix_that_majority_voting_misses(rows, tmp_path) -> None:
    task = load_task("swe", LOCAL)
    summary = evaluate_best_of(task, Scripted(), out=tmp_path, data=rows, samples=5, progress=False)
    metrics = summary["metrics"]
    assert metrics["pass@1"]["mean"] == pytest.approx(0.2)
    assert metrics["majority@5"]["mean"] == 0.0 and metrics["best@5"]["mean"] == 1.0
    assert metrics["testgen_pass"]["mean"] == pytest.approx(0.8)  # 4 of 5 tests reproduce
    (row,) = [json.loads(x) for x in (tmp_path / "best_at_k.jsonl").read_text().splitlines()]
    assert row["row_id"] == "tiny__mylib-1" and row["chosen"] == 2 and row["majority"] == 0
    table = (tmp_path / "summary.md").read_text()
    assert "| pass@1 |" in table and "| majority@5 |" in table and "| best@5 |" in table


def test_the_cli_reports_best_at_k_with_the_oracle(rows, tmp_path) -> None:
    sets = [x for s in LOCAL for x in ("--set", s)]
    args = ["eval", "swe", "--policy", "oracle", "--data", str(rows), "-k", "2", "--best-of"]
    result = CliRunner().invoke(build_cli(), [*args, "--out", str(tmp_path), "--quiet", *sets])
    assert result.exit_code == 0, result.output
    assert "best@2 1.0000" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    for name in ("pass@1", "majority@2", "best@2", "testgen_pass"):
        assert summary["metrics"][name]["mean"] == 1.0, name
    assert (tmp_path / "testgen" / "samples.jsonl").is_file()


def test_best_of_is_for_swe_tasks_only(tmp_path) -> None:
    result = CliRunner().invoke(
        build_cli(), ["eval", "math", "--policy", "oracle", "--best-of", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0 and "--best-of chooses among swe patches" in result.output
