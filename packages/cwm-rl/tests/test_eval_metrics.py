"""pass@k, standard errors and majority voting against direct computations."""

from itertools import combinations
from math import comb

import pytest

from cwm.core.plugins import registry
from cwm.rl.eval.metrics import mean_stderr, pass_at_k
from cwm.rl.eval.samples import EvalSample
from cwm.rl.eval.summary import summarize


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_pass_at_k_matches_the_closed_form_and_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            closed = 1 - comb(n - c, k) / comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(closed, abs=1e-12)
            # the chance that k of the n samples, drawn without replacement, hold a correct one
            correct = set(range(c))
            draws = list(combinations(range(n), k))
            hits = sum(bool(correct & set(d)) for d in draws)
            assert pass_at_k(n, c, k) == pytest.approx(hits / len(draws), abs=1e-12)


def test_pass_at_k_refuses_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_mean_and_standard_error():
    mean, stderr = mean_stderr([1.0, 0.0, 1.0, 1.0])
    assert mean == 0.75
    assert stderr == pytest.approx((0.25 / 4) ** 0.5)  # sample variance 0.25, n = 4
    assert mean_stderr([0.5]) == (0.5, 0.0)
    assert mean_stderr([]) == (0.0, 0.0)


def _majority(answers: list[str], scores: list[float], vote=None) -> float:
    samples = [
        EvalSample(
            id=f"r/{k}",
            task="t",
            row_id="r",
            sample=k,
            prompt_tokens=[],
            prompt="",
            response_tokens=[],
            response="",
            outcomes={"answer": a},
            score=score,
            reward=score,
            finish="answered",
            turns=1,
            seconds=0.0,
        )
        for k, (a, score) in enumerate(zip(answers, scores))
    ]
    out = summarize(samples, task="t", metric="pass", majority=True, policy="p", vote=vote)
    return out["metrics"][f"majority@{len(answers)}"]["mean"]


def test_majority_picks_the_most_frequent_answer():
    # the minority is right, the majority wrong: majority voting misses it
    assert _majority(["3", "4", "4"], [1.0, 0.0, 0.0]) == 0.0
    # ties go to the answer seen first; unparsed answers never win
    assert _majority(["7", "8", "", ""], [1.0, 0.0, 0.0, 0.0]) == 1.0
    assert _majority(["", ""], [0.0, 0.0]) == 0.0


def test_majority_uses_the_environments_notion_of_the_same_answer():
    math = registry("environment").create("math")
    answers, scores = ["{1, 2}", "3", "{2, 1}", "3"], [1.0, 0.0, 1.0, 0.0]
    assert _majority(answers, scores) == 0.0  # as text, "3" comes first among the ties
    assert _majority(answers, scores, vote=math.majority) == 1.0  # math-verify: {1,2} = {2,1}
    assert _majority(["1/2", "0.5", "3"], [1.0, 1.0, 0.0], vote=math.majority) == 1.0
