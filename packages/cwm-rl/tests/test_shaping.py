"""Reward shaping: the overlong penalty and its schedule, the degenerate-sample filter."""

from __future__ import annotations

import pytest

from cwm.rl.run.samples import EpisodeSpec, Group, Sample
from cwm.rl.run.shaping import ShapingConfig, overlong_penalty, repeated_fraction, shape


def sample(reply: list[int], logprob: float = -1.0, reward: float = 1.0) -> Sample:
    return Sample(
        tokens=[1, 2, *reply],
        action=[False, False] + [True] * len(reply),
        logprobs=[logprob] * len(reply),
        versions=[0] * len(reply),
        reward=reward,
        truncated=False,
        finish="",
        issue_version=0,
    )


def group(*samples: Sample) -> Group:
    return Group(
        spec=EpisodeSpec(group=0, task="t", row=0, seed=0),
        row_id="r",
        issue_version=0,
        samples=list(samples),
    )


def test_overlong_penalty_is_linear_over_the_buffer():
    cfg = ShapingConfig(overlong_max_tokens=100, overlong_buffer=20, overlong_coef=0.5)
    assert overlong_penalty(80, 100, cfg) == 0.0
    assert overlong_penalty(90, 100, cfg) == pytest.approx(-0.25)
    assert overlong_penalty(100, 100, cfg) == pytest.approx(-0.5)
    assert overlong_penalty(130, 100, cfg) == pytest.approx(-0.5)


def test_overlong_limit_follows_its_schedule():
    cfg = ShapingConfig(overlong_max_tokens=10, overlong_max_tokens_end=30, overlong_buffer=4)
    batch = [group(sample(list(range(100, 120))))]  # 20 action tokens
    _, first = shape(batch, cfg, 0, 11)
    assert first["overlong_limit"] == 10 and first["overlong_penalized"] == 1
    shaped, last = shape([group(sample(list(range(100, 120))))], cfg, 10, 11)
    assert last["overlong_limit"] == 30 and last["overlong_penalized"] == 0
    assert shaped[0].samples[0].reward == 1.0


def test_degenerate_samples_are_logged_then_dropped():
    good = sample(list(range(10, 30)))
    noise = sample(list(range(30, 50)), logprob=-9.5)  # near-uniform rare tokens
    loop = sample([7, 8, 9, 10] * 5)  # repeats itself
    assert repeated_fraction([7, 8, 9, 10] * 5) == pytest.approx(13 / 17)
    _, logged = shape([group(good, noise, loop)], ShapingConfig(max_repeat=0.7), 0, 1)
    assert logged["degenerate"] == 2 and logged["degenerate_dropped"] == 0
    cfg = ShapingConfig(degenerate="drop", max_repeat=0.7)
    shaped, dropped = shape([group(good, noise, loop)], cfg, 0, 1)
    assert dropped["degenerate_dropped"] == 2 and shaped[0].samples == [good]
    kept, none = shape([group(noise)], cfg, 0, 1)  # never an empty batch
    assert none["degenerate_dropped"] == 0 and kept[0].samples == [noise]
