"""The token-level ``swe`` environment on the local sandbox: the oracle resolves SWE-bench and
forage rows through the tools; garbage, floods, hangs, the turn cap, the context limit and a
patch that breaks the repository all end in outcomes and rewards, never in an exception."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from episodes import play, play_texts
from swe_repo import BROKEN, BUGGY, forage_row, make_repo, swebench_row

from cwm.core.envs import FINISH_CONTEXT, FINISH_TURNS
from cwm.core.errors import CwmError
from cwm.core.plugins import registry
from cwm.data.envs.patches import make_diff

OPTIONS = {"sandbox": "local", "command_timeout": 5.0, "test_timeout": 60.0}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_repo(tmp_path_factory.mktemp("swe") / "mylib"))


@pytest.fixture(scope="module")
def env():
    return registry("environment").create("swe", **OPTIONS)


@pytest.fixture(scope="module")
def reward():
    return registry("reward").create("swe")


@pytest.mark.parametrize("make_row", [swebench_row, forage_row])
def test_the_oracle_resolves_the_task_through_the_tools(env, reward, repo, make_row) -> None:
    rollout = play(env, make_row(repo))
    assert rollout.finish == "submitted" and rollout.transitions[-1].terminal
    out = rollout.outcomes
    assert out["pass"] and out["submitted"] and out["patch_similarity"] > 0.9  # git's hunk headers
    assert out["format_errors"] == 0 and out["turns"] == 3
    assert reward(rollout) == 1.0
    assert rollout.transitions[-1].info["patch"].startswith("diff --git a/mylib.py")
    text = env.tok.decode(rollout.tokens)
    assert "<|start_header_id|>tool: bash<|end_header_id|>" in text  # tool results are turns
    assert "<|start_header_id|>tool: submit<|end_header_id|>" in text


def test_the_prompt_hides_the_fix_and_the_hidden_tests(env, repo) -> None:
    row = swebench_row(repo)
    state, first = env.start(row)
    try:
        text = env.tok.decode(first.observation)
        assert "mean([1, 2]) returns 1 instead of 1.5." in text
        assert "test_mean_fraction" not in text and "total(items) / len" not in text
        assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    finally:
        state.close()


def test_garbage_replies_get_observations_until_the_turn_cap(repo, reward) -> None:
    env = registry("environment").create("swe", max_turns=6, **OPTIONS)
    rng = random.Random(0)
    noise = [rng.randrange(0, 200_000) for _ in range(300)]  # ids past the vocabulary too
    replies = [
        noise,
        env.chat.action("I will think about it."),
        env.chat.action("<tool: bash>\nyes | head -c 5000000\n</tool>"),  # a flood
        env.chat.action("<tool: bash>\nsleep 60\n</tool>"),  # past the command timeout
        env.chat.tok.encode("<tool: edit>\nmylib.py\n<<<<<<< SEARCH\n"),  # cut off
        env.chat.action("<tool: submit>\n/nonexistent.patch\n</tool>"),
    ]
    rollout = play(env, swebench_row(repo), replies)
    assert len(rollout.transitions) == 6 and rollout.finish == FINISH_TURNS
    assert rollout.transitions[-1].truncated and not rollout.transitions[-1].terminal
    assert all(t.observation for t in rollout.transitions[:-1])
    out = rollout.outcomes
    assert out["pass"] is False and out["submitted"] is False and out["format_errors"] >= 2
    assert reward(rollout) == -1.0
    flood = env.tok.decode(rollout.transitions[2].observation)
    assert len(flood) < 200_000  # the output was capped
    assert "timed out" in env.tok.decode(rollout.transitions[3].observation).lower()


def test_a_history_past_the_context_is_truncated(repo) -> None:
    env = registry("environment").create("swe", context=1200, **OPTIONS)
    state, first = env.start(swebench_row(repo))
    state.close()
    assert len(first.observation) < 1200
    rollout = play_texts(env, swebench_row(repo), ["<tool: bash>\nseq 1 2000\n</tool>"] * 5)
    assert rollout.finish == FINISH_CONTEXT and rollout.transitions[-1].truncated
    assert rollout.outcomes["pass"] is False


def test_a_patch_that_breaks_the_repository_is_graded_not_raised(env, reward, repo) -> None:
    row = swebench_row(repo)
    broken = make_diff("mylib.py", BUGGY, BROKEN)
    rollout = play(env, row, lambda state: env.replay(state, broken, "broken"))
    out = rollout.outcomes
    assert rollout.finish == "submitted" and out["submitted"] and out["pass"] is False
    assert 0.0 < out["patch_similarity"] < 1.0
    assert reward(rollout) in (-1.0, 0.0)  # shaped by similarity at most, never resolved
    syntax = make_diff("mylib.py", BUGGY, BUGGY.replace("def mean(items):", "def mean(items:"))
    rollout = play(env, row, lambda state: env.replay(state, syntax, "syntax"))
    assert rollout.outcomes["submitted"] and rollout.outcomes["pass"] is False


def test_rows_without_an_image_and_bad_options_are_one_line_errors(
    repo: str, tmp_path: Path
) -> None:
    env = registry("environment").create("swe", sandbox="local")
    row = swebench_row(repo)
    del row["image"]
    with pytest.raises(CwmError, match="no sandbox image"):
        env.start(row)
    with pytest.raises(CwmError, match="neither"):
        env.start({"id": "x"})
    with pytest.raises(CwmError, match="max_turns"):
        registry("environment").create("swe", max_turn=3)
