"""The agent loop: a policy acts in the SWE environment until the episode ends.

Every episode becomes a `Trajectory`, solved or not; a policy that fails (its
server is down, say) ends the episode with ``finish="error"`` and the error in
``meta``, rather than losing the turns so far. A chat that outgrew the model's
context ends it with ``finish="context"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from cwm.core.schemas import Trajectory
from cwm.data.envs.swe import SWEEnv
from cwm.data.forager.policies import Policy

RewardFn = Callable[[Trajectory], float]


def run_episode(env: SWEEnv, policy: Policy, *, reward: RewardFn | None = None) -> Trajectory:
    """Reset ``env``, let ``policy`` act until done, grade, and score with ``reward``."""
    meta: dict[str, Any] = {}
    try:
        env.reset()
        policy.start(env.task)
        while True:
            step = env.step(policy(env.messages()))
            if step.done:
                break
    except Exception as exc:  # a policy or sandbox failure: keep what happened so far
        meta["error"] = f"{type(exc).__name__}: {exc}"
        env.finish_reason = getattr(exc, "finish", "error")
    trajectory = env.finish(policy=policy.name, meta=meta)
    if reward is not None:
        trajectory = msgspec.structs.replace(trajectory, reward=float(reward(trajectory)))
    return trajectory
