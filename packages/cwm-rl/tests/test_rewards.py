"""Reward functions on hand-made trajectories: CWM's thresholded similarity, tests, format, compose."""

from __future__ import annotations

import pytest

from cwm.core.errors import CwmError
from cwm.core.plugins import registry
from cwm.core.schemas import Message, Task, ToolCall, Trajectory, Turn
from cwm.core.schemas import TestOutcome as Outcome  # a Test* name would be collected
from cwm.data.envs.patches import make_diff
from cwm.rl.rewards import OutcomeReward, file_similarities, mean_similarity, normalized_files

OLD = "def f(x):\n    return x + 1\n\n\ndef g(y):\n    return y * 2\n"
FIXED = OLD.replace("x + 1", "x - 1")
ORACLE = make_diff("m.py", OLD, FIXED)


def traj(patch: str | None, resolved: bool | None = None, errors: int = 0) -> Trajectory:
    task = Task(id="t", instruction="fix", oracle_patch=ORACLE)
    tests = None if resolved is None else Outcome(resolved=resolved)
    bad = Turn(
        action="hmm",
        tool_call=None,
        observation=Message(role="user", content="NoToolCall"),
        error="NoToolCall",
    )
    good = Turn(
        action="<tool: bash>\nls\n</tool>",
        tool_call=ToolCall("bash", "ls"),
        observation=Message(role="tool", tool="bash", content="m.py"),
    )
    return Trajectory(
        id="x", task=task, prompt=[], turns=[bad] * errors + [good], patch=patch, tests=tests
    )


def test_normalization_matches_swe_rl() -> None:
    files = normalized_files(ORACLE)
    assert list(files) == ["m.py"]
    assert files["m.py"].startswith(
        "@@ -1,5 +1,5 @@\n def f(x):\n-    return x + 1\n+    return x - 1"
    )
    renamed = "diff --git a/a.py b/b.py\nsimilarity index 100%\nrename from a.py\nrename to b.py\n"
    assert normalized_files(renamed) == {"a.py": "rename from a.py to b.py"}
    assert file_similarities(ORACLE, ORACLE) == {"m.py": 1.0}


def test_only_oracle_files_count() -> None:
    elsewhere = make_diff("other.py", "a = 1\n", "a = 2\n")
    assert mean_similarity(elsewhere, ORACLE) == 0.0
    assert mean_similarity(ORACLE + elsewhere, ORACLE) == 1.0  # extra files do not hurt
    assert mean_similarity("", ORACLE) == 0.0
    assert mean_similarity(ORACLE, "") is None


def test_cwm_thresholded_formula() -> None:
    r = registry("reward").create("patch-similarity", threshold=0.5, scale=2.0)
    assert r.range == (-1.0, 1.0)
    assert r(traj(ORACLE, resolved=True)) == 1.0
    near = make_diff("m.py", OLD, OLD.replace("x + 1", "x - 2"))  # close to the oracle, still wrong
    assert mean_similarity(near, ORACLE) >= 0.5
    assert r(traj(near, resolved=False)) == pytest.approx(
        -1.0 + 0.5 * 2.0
    )  # the threshold, not the similarity
    far = make_diff("m.py", OLD, OLD.replace("y * 2", "sum(range(y))  # an unrelated change"))
    assert mean_similarity(far, ORACLE) < 0.5 and r(traj(far, resolved=False)) == -1.0
    assert r(traj(None, resolved=False)) == -1.0
    strict = registry("reward").create("patch-similarity", threshold=0.99)
    assert strict(traj(near, resolved=False)) == -1.0
    assert r(traj(near)) == 0.0  # without execution, the similarity alone shapes the reward


def test_hidden_tests_and_format_penalty() -> None:
    tests = registry("reward").create("hidden-tests")
    assert tests(traj(ORACLE, resolved=True)) == 1.0 and tests(traj(ORACLE, resolved=False)) == -1.0
    fmt = registry("reward").create("format", penalty=0.1, max_penalty=0.25)
    assert fmt(traj(ORACLE, errors=0)) == 0.0
    assert fmt(traj(ORACLE, errors=2)) == pytest.approx(-0.2)
    assert fmt(traj(ORACLE, errors=9)) == pytest.approx(-0.25)


def test_compose_from_config() -> None:
    terms = [
        {"name": "patch-similarity", "options": {"threshold": 0.5}},
        {"name": "format", "weight": 2.0, "options": {"penalty": 0.1}},
    ]
    r = registry("reward").create("compose", terms=terms, clip=[-1.0, 1.0])
    assert r(traj(ORACLE, resolved=True, errors=1)) == pytest.approx(0.8)
    assert r(traj(None, resolved=False, errors=3)) == -1.0  # clipped
    assert r.range == (-1.0, 1.0)
    swe = registry("reward").create("swe", format_penalty=0.1)
    assert swe(traj(ORACLE, resolved=True, errors=1)) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        registry("reward").create("compose", terms=[{"nmae": "format"}])


def test_reward_options_from_the_command_line_are_text() -> None:
    assert registry("reward").create("pass", lo="-1", hi="2").range == (-1.0, 2.0)


def test_pass_outcome_and_hidden_tests_are_one_reward_of_the_pass_outcome() -> None:
    from cwm.core.envs import Rollout, Transition

    def rollout(**outcomes) -> Rollout:
        r = Rollout(row_id="r", prompt=[1])
        r.transitions.append(Transition(terminal=True, outcomes=outcomes))
        return r

    made = [
        registry("reward").create(name, **options)
        for name, options in [("pass", {"partial": True}), ("outcome", {}), ("hidden-tests", {})]
    ]
    assert all(isinstance(r, OutcomeReward) for r in made)
    passed, half = rollout(**{"pass": True}), rollout(**{"pass": False, "passed_fraction": 0.5})
    assert [r(passed) for r in made] == [1.0, 1.0, 1.0]
    assert [r(half) for r in made] == [0.5, 0.0, -1.0]
    scaled = registry("reward").create("outcome", key="answered", scale=3.0, missing=-1.0)
    assert (scaled(rollout(answered=True)), scaled(passed), scaled.range) == (3.0, -1.0, (-1, 3))
    with pytest.raises(CwmError, match="lo < hi"):
        registry("reward").create("pass", lo=1, hi=0)
