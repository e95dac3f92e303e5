"""The SWE rewards read a rollout's outcomes as they read a trajectory; the outcome rewards of
code-tests, math and swe-testgen read ``pass`` and ``passed_fraction``."""

from __future__ import annotations

import pytest

from cwm.core.envs import Action, Rollout, Transition, token_rewards
from cwm.core.errors import CwmError
from cwm.core.plugins import registry


def rollout(**outcomes) -> Rollout:
    r = Rollout(row_id="t", prompt=[1, 2])
    r.add(Action(tokens=[3, 4]), Transition(outcomes={"turns": 1}))
    r.add(Action(tokens=[5]), Transition(terminal=True, outcomes=outcomes))
    return r


def test_swe_rewards_on_rollouts() -> None:
    swe = registry("reward").create("swe", threshold=0.5)
    assert swe(rollout(**{"pass": True, "patch_similarity": 1.0})) == 1.0
    assert swe(rollout(**{"pass": False, "patch_similarity": 0.7})) == 0.0  # -1 + 0.5 * 2
    assert swe(rollout(**{"pass": False, "patch_similarity": 0.3})) == -1.0
    assert swe(rollout()) == -1.0
    shaped = registry("reward").create("swe", format_penalty=0.1)
    value = shaped(rollout(**{"pass": True, "format_errors": 3}))
    assert value == pytest.approx(1.0 - 0.3)
    assert token_rewards(value, rollout()) == [0.0, 0.0, pytest.approx(0.7)]
    composed = registry("reward").create(
        "compose", terms=[{"name": "hidden-tests"}, {"name": "format"}], clip=[-1, 1]
    )
    assert composed(rollout(**{"pass": True, "format_errors": 1})) == pytest.approx(0.9)


def test_the_pass_reward() -> None:
    name = "pass"
    reward = registry("reward").create(name, lo=-1.0, hi=1.0)
    assert reward.range == (-1.0, 1.0)
    assert reward(rollout(**{"pass": True})) == 1.0
    assert reward(rollout(**{"pass": False, "passed_fraction": 0.5})) == -1.0
    partial = registry("reward").create(name, partial=True)
    assert partial(rollout(**{"pass": False, "passed_fraction": 0.25})) == 0.25
    with pytest.raises(CwmError, match="lo < hi"):
        registry("reward").create(name, lo=1.0, hi=0.0)
