"""The ``swe-testgen`` environment on the local sandbox: the oracle's test reproduces the bug;
a test that passes on the buggy tree, fails after the fix, or touches the source earns nothing."""

from __future__ import annotations

import pytest
from episodes import play
from swe_repo import BUGGY, FIXED, forage_row, make_repo, swebench_row

from cwm.core.errors import CwmError
from cwm.core.plugins import registry
from cwm.data.envs.patches import make_diff

OPTIONS = {"sandbox": "local", "command_timeout": 5.0, "test_timeout": 60.0}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_repo(tmp_path_factory.mktemp("testgen") / "mylib"))


@pytest.fixture(scope="module")
def env():
    return registry("environment").create("swe-testgen", **OPTIONS)


def new_test(body: str, name: str = "tests/test_repro.py") -> str:
    """A patch adding a test file, as `git diff` writes one."""
    lines = ["from mylib import mean", "", "", "def test_repro():", f"    {body}"]
    head = f"diff --git a/{name} b/{name}\nnew file mode 100644\n--- /dev/null\n+++ b/{name}\n"
    return head + f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines)


def submit(env, row, patch: str):
    return play(env, row, lambda state: env.replay(state, patch, "mine"))


def test_a_mutate_fix_oracle_copies_the_failing_test(env, repo) -> None:
    rollout = play(env, forage_row(repo))
    assert rollout.outcomes["pass"]
    assert "+++ b/tests/test_cwm_repro.py" in rollout.transitions[-1].info["test"]


def test_the_oracle_test_fails_before_and_passes_after(env, repo) -> None:
    rollout = play(env, swebench_row(repo))
    out = rollout.outcomes
    assert rollout.finish == "submitted"
    assert out["pass"] and out["fails_before"] and out["passes_after"] and out["submitted"]
    assert registry("reward").create("pass")(rollout) == 1.0
    prompt = env.tok.decode(rollout.prompt)
    assert "reproduces it" in prompt and "test_mean_fraction" not in prompt


def test_the_sandbox_is_recorded_and_a_fallback_to_the_host_is_warned(env, repo, monkeypatch):
    rollout = play(env, forage_row(repo))
    assert rollout.transitions[-1].info["sandbox"] == "local"
    import cwm.data.sandbox as sandbox
    import cwm.data.sandbox.engine as engine

    monkeypatch.setattr(engine, "engine_running", lambda: False)  # a machine without Docker
    sandbox._warn_local_once.cache_clear()
    with pytest.warns(RuntimeWarning, match="no Docker engine answers.*on this machine"):
        auto = registry("environment").create("swe-testgen", **{**OPTIONS, "sandbox": "auto"})
    assert auto.backend.name == "local"


def test_a_new_reproduction_test_passes(env, repo) -> None:
    out = submit(env, swebench_row(repo), new_test("assert mean([1, 2, 3, 4]) == 2.5")).outcomes
    assert out["pass"] and out["fails_before"] and out["passes_after"]


@pytest.mark.parametrize(
    ("patch", "fails_before", "passes_after"),
    [
        (new_test("assert mean([2, 4]) == 3"), False, True),  # passes already: reproduces nothing
        (new_test("assert mean([1, 2]) == 1"), False, False),  # asserts the bug
        (new_test("assert mean([1, 2]) == 1.5 +"), True, False),  # a syntax error
        (new_test("while True: pass"), False, False),  # hangs (stopped by the test timeout)
    ],
)
def test_tests_that_do_not_reproduce_get_no_reward(
    env, repo, patch, fails_before, passes_after
) -> None:
    if "while True" in patch:
        env = registry("environment").create("swe-testgen", **{**OPTIONS, "test_timeout": 3.0})
    out = submit(env, swebench_row(repo), patch).outcomes
    assert out["submitted"] and out["pass"] is False
    assert (out["fails_before"], out["passes_after"]) == (fails_before, passes_after)


def test_a_patch_that_touches_the_source_is_not_a_test(env, repo) -> None:
    fix_and_test = make_diff("mylib.py", BUGGY, FIXED) + new_test("assert mean([1, 2]) == 1.5")
    out = submit(env, swebench_row(repo), fix_and_test).outcomes
    assert out["submitted"] and out["pass"] is False and out["fails_before"] is False


def test_a_row_without_a_test_patch_has_no_oracle(env, repo) -> None:
    row = {**swebench_row(repo), "test_patch": "", "FAIL_TO_PASS": "[]"}
    state, _ = env.start(row)
    try:
        with pytest.raises(CwmError, match="no test patch"):
            env.reference(state)
    finally:
        state.close()
