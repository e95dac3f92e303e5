"""best@k on a real repository in the local sandbox: the right patch is a minority that the
generated reproduction tests single out; majority voting alone picks the wrong one."""

from __future__ import annotations

import pytest
from swe_repo import BROKEN, BUGGY, FIXED, ROUNDED, make_repo, swebench_row

from cwm.core.envs import Action, Rollout, Transition
from cwm.data.envs.patches import make_diff
from cwm.data.sandbox.local import LocalBackend
from cwm.rl.envs.swe_tasks import task_of
from cwm.rl.eval.best_at_k import (
    Candidate,
    Scaling,
    best_at_k,
    candidates_of,
    generated_tests_of,
    normalized,
    rank,
    summarize,
)

RIGHT = make_diff("mylib.py", BUGGY, FIXED)
WRONG = make_diff("mylib.py", BUGGY, ROUNDED)  # passes the existing tests, fails the hidden
BREAKS = make_diff("mylib.py", BUGGY, BROKEN)  # fixes mean but breaks total


def new_test(body: str, name: str = "tests/test_repro.py") -> str:
    lines = ["from mylib import mean", "", "", "def test_repro():", f"    {body}"]
    head = f"diff --git a/{name} b/{name}\nnew file mode 100644\n--- /dev/null\n+++ b/{name}\n"
    return head + f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Scaling:
    image = str(make_repo(tmp_path_factory.mktemp("bestk") / "mylib"))
    task = task_of(swebench_row(image))
    backend = LocalBackend()
    candidates = [
        Candidate(WRONG, 50),
        Candidate(WRONG, 60),
        Candidate(RIGHT, 300),
        Candidate(WRONG, 40),
        Candidate(BREAKS, 10),
    ]
    tests = [
        new_test("assert mean([1, 2]) == 1.5"),
        new_test("assert mean([2, 4]) == 3"),  # passes on the buggy tree: reproduces nothing
        new_test("assert mean([1, 2])  ==  1.5"),  # the same test as the first, respaced
        new_test("assert mean([1, 2, 3, 4]) == 2.5", "tests/test_other.py"),
        new_test("assert mean([1, 2]) == 1.5"),
    ]
    return best_at_k(task, candidates, tests, lambda: backend.start(image), progress=True)


def test_the_generated_tests_single_out_the_minority_fix(result: Scaling) -> None:
    assert result.resolved == [False, False, True, False, False]
    assert result.kept == [True, True, True, True, False]  # BREAKS fails the existing tests
    assert result.tests == [0, 3]  # the majority test first; the non-reproducing one dropped
    assert result.scores == [0, 0, 2, 0, 0]
    assert result.chosen == 2 and result.best_at_k
    assert result.majority == 0 and not result.majority_at_k  # three votes for the wrong fix
    assert result.pass_at_1 == pytest.approx(0.2)
    summary = summarize([result])
    assert summary["best@K"]["mean"] == 1.0 and summary["majority@K"]["mean"] == 0.0
    assert summary["pass@1"]["mean"] == pytest.approx(0.2)


def test_ties_go_to_the_majority_then_to_the_fewest_tokens() -> None:
    other = RIGHT.replace("/ len(items)", "/ float(len(items))")
    cands = [Candidate(RIGHT, 90), Candidate(other, 10), Candidate(RIGHT, 80)]
    assert rank(cands, [True] * 3, [1, 1, 1]) == 2  # RIGHT has two votes; the cheaper of them
    assert rank(cands, [True] * 3, [1, 2, 1]) == 1  # more tests passed beats votes
    assert rank(cands, [False, True, False], [5, 0, 5]) == 1  # only kept candidates count
    assert rank(cands, [False] * 3, [0, 0, 0]) is None
    assert normalized(RIGHT) == normalized(
        RIGHT.replace("@@ -12,4 +12,4 @@", "@@ -12,4 +12,4 @@ x")
    )


def test_candidates_and_tests_come_from_rollouts() -> None:
    def rollout(info: dict, n: int) -> Rollout:
        r = Rollout(row_id="t", prompt=[1])
        r.add(Action(tokens=list(range(n))), Transition(terminal=True, info=info))
        return r

    assert candidates_of([rollout({"patch": RIGHT}, 7), rollout({}, 3)]) == [
        Candidate(RIGHT, 7),
        Candidate("", 3),
    ]
    assert generated_tests_of([rollout({"test": "diff x"}, 1)]) == ["diff x"]
