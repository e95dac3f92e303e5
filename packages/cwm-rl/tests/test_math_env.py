"""The ``math`` environment: answers extracted and checked with math-verify, the oracle
scores 100%, bad replies get outcomes, majority voting groups equal answers."""

from __future__ import annotations

import pytest
from episodes import play, play_texts

from cwm.core.errors import CwmError
from cwm.core.plugins import registry
from cwm.rl.envs.datasets import math_examples
from cwm.rl.envs.math_answers import extract_answer
from cwm.rl.eval.voting import majority_index, vote_classes


@pytest.fixture(scope="module")
def env():
    env = registry("environment").create("math", check_seconds=20.0)
    yield env
    env.close()


def test_the_oracle_scores_every_example(env) -> None:
    reward = registry("reward").create("pass")
    for row in math_examples():
        rollout = play(env, row)
        assert rollout.outcomes["pass"], (row, rollout.outcomes)
        assert reward(rollout) == 1.0


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("so x = 2 and \\boxed{\\frac{1}{2}} wait, no: \\boxed{\\frac{3}{4}}.", "\\frac{3}{4}"),
        ("The set is $\\boxed{\\{2, 3\\}}$", "\\{2, 3\\}"),
        ("Adding them up.\nAnswer: 42.", "42"),
        ("We get\n$9\\pi$", "9\\pi"),
        ("", None),
        ("\\boxed{}", None),
    ],
)
def test_the_final_answer_is_extracted(reply: str, answer: str | None) -> None:
    assert extract_answer(reply) == answer


def test_equal_values_in_other_forms_count(env) -> None:
    row = {"id": "half", "problem": "Half of one?", "answer": "\\frac{1}{2}"}
    for reply in ("\\boxed{0.5}", "\\boxed{1/2}", "It is 2/4"):
        assert play_texts(env, row, [reply]).outcomes["pass"], reply
    wrong = play_texts(env, row, ["\\boxed{0.6}"])
    assert wrong.outcomes == {"pass": False, "answered": True, "answer": "0.6"}


def test_garbage_gets_an_outcome(env) -> None:
    row = math_examples()[0]
    for reply in ("", "\\boxed{\\frac{", "}}}{{{ \\\\", "x" * 5000, "\\boxed{9^{9^{9^{9^{9}}}}}"):
        rollout = play_texts(env, row, [reply])
        assert rollout.done and rollout.outcomes["pass"] is False
    cut = play(env, row, [env.chat.tok.encode("The answer is \\boxed{4")])  # never closed
    assert cut.outcomes["pass"] is False


def test_majority_voting_groups_equivalent_answers(env) -> None:
    answers = ["0.5", "3", "\\frac{1}{2}", None, "3", "1/2"]
    assert env.majority(answers) == 0  # 0.5, 1/2 and \frac{1}{2}: three votes against two
    assert vote_classes(answers) == [[1, 4], [0], [2], [5]]  # by text alone
    assert majority_index(answers) == 1
    assert majority_index([None, None]) is None


def test_a_row_without_an_answer_is_a_one_line_error(env) -> None:
    with pytest.raises(CwmError, match="lacks answer"):
        env.start({"id": "x", "problem": "1+1"})
