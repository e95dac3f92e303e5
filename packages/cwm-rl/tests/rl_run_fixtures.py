"""A small real environment the debug model can learn, for the RL loop's tests.

``low-tokens``: the prompt is the row's token ids; each turn the policy writes tokens,
the environment answers with the row's ``observation`` tokens, and the episode ends
after the row's ``turns`` (each step takes the row's ``sleep`` seconds, 0 by default, so a
test can stop a run between two steps). The reward ``low-fraction`` is the share of action tokens
in the lower half of the vocabulary: about 0.5 for a random policy, learnable by RL.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from pathlib import Path
from typing import Any

from cwm.core.envs import Env, Transition
from cwm.core.plugins import hookimpl, register_plugin, unregister_plugin

HALF = 16640 // 2  # the embedded vocabulary of the debug model
NAME = "rl-test-plugin"


class Turns:
    def __init__(self, turns: int, sleep: float = 0.0):
        self.turns, self.turn, self.closed = turns, 0, False
        self.sleep = sleep

    def close(self) -> None:
        self.closed = True


class LowTokens(Env):
    name = "low-tokens"

    def start(self, row):
        return Turns(row["turns"], row.get("sleep", 0.0)), Transition(
            observation=list(row["prompt"])
        )

    def step(self, state, action):
        time.sleep(state.sleep)
        state.turn += 1
        done = state.turn >= state.turns
        low = sum(t < HALF for t in action) / max(len(action), 1)
        return Transition(
            observation=[] if done else [11, 12, 13],
            terminal=done,
            finish="answered" if done else "",
            outcomes={"low": low},
        )


class LowFraction:
    range = (0.0, 1.0)

    def __init__(self, below: int = HALF):
        self.below = below

    def __call__(self, rollout) -> float:
        tokens = [t for a in rollout.actions for t in a.tokens]
        return sum(t < self.below for t in tokens) / max(len(tokens), 1)


class Plugin:
    @hookimpl
    def register_environments(self) -> dict[str, Any]:
        return {"low-tokens": LowTokens}

    @hookimpl
    def register_rewards(self) -> dict[str, Any]:
        return {"low-fraction": LowFraction}


def install() -> None:
    with contextlib.suppress(Exception):
        unregister_plugin(NAME)
    register_plugin(Plugin(), NAME)


def write_rows(
    path: Path, n: int = 16, seed: int = 0, max_turns: int = 3, vocab: int = 5000, sleep: float = 0
) -> Path:
    rng = random.Random(seed)
    rows = [
        {
            "id": f"r{i}",
            "prompt": [rng.randrange(vocab // 5, vocab) for _ in range(rng.randint(3, 8))],
            "turns": rng.randint(1, max_turns),
            **({"sleep": sleep} if sleep else {}),
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def toml(path: Path, data: Path, run_dir: Path, **top: Any) -> Path:
    """An RL config for the test environment (``top``: top-level keys as TOML values)."""
    lines = [f'run_dir = "{run_dir}"'] + [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    lines += [
        "[optim]",
        "lr = 3e-3",
        "grad_clip = 1.0",
        "warmup_steps = 0",
        'decay = "constant"',
        "[sampling]",
        "max_tokens = 8",
        "[[tasks]]",
        'name = "low"',
        'environment = "low-tokens"',
        f'data = "{data}"',
        'reward = "low-fraction"',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
