"""pass@k, standard errors and majority voting against direct computations."""

from itertools import combinations
from math import comb

import pytest

from cwm.rl.eval.metrics import majority_correct, mean_stderr, pass_at_k


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


def test_majority_picks_the_most_frequent_answer():
    assert majority_correct(["{1, 2}", "{2, 1}", "{1, 2}"], [True, True, True])
    # the minority is right, the majority wrong: majority voting misses it
    assert not majority_correct(["3", "4", "4"], [True, False, False])
    # ties go to the answer seen first; unparsed answers never win
    assert majority_correct(["7", "8", "", ""], [True, False, False, False])
    assert not majority_correct(["", ""], [False, False])
