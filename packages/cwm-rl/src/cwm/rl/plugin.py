"""cwm-rl's built-in plugins, registered through the ``cwm`` entry point like any other.

Imports stay inside the factories so that loading plugins (every ``cwm`` call) is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from cwm.core.plugins import hookimpl
from cwm.core.plugins.hookspecs import Factories

# --- rewards ----------------------------------------------------------------------------------


def _reward(name: str) -> Any:
    def factory(**options: Any) -> Any:
        from cwm.rl import rewards

        return getattr(rewards, name)(**options)

    factory.__name__ = f"reward_{name}"
    return factory


@hookimpl
def register_rewards() -> Factories:
    return {
        "hidden-tests": _reward("HiddenTests"),
        "patch-similarity": _reward("PatchSimilarity"),
        "format": _reward("FormatPenalty"),
        "compose": _reward("compose"),
        "swe": _reward("swe"),
        "pass": _reward("PassReward"),
        "outcome": _reward("OutcomeReward"),
        "frames-exact": _reward("FramesExact"),
    }


# --- environments -----------------------------------------------------------------------------


def _env(module: str, name: str) -> Any:
    def factory(**options: Any) -> Any:
        return getattr(importlib.import_module(f"cwm.rl.envs.{module}"), name)(**options)

    factory.__name__ = f"environment_{name}"
    return factory


@hookimpl
def register_environments() -> Factories:
    return {
        "trace-prediction": _env("trace_prediction", "TracePrediction"),
        "output-prediction": _env("output_prediction", "OutputPrediction"),
        "input-prediction": _env("output_prediction", "InputPrediction"),
        "code-tests": _env("code_tests", "code_tests"),
        "math": _env("math_answers", "math_env"),
        "swe": _env("swe", "swe_env"),
        "swe-testgen": _env("swe_testgen", "swe_testgen"),
    }


# --- policy losses ----------------------------------------------------------------------------


def _policy_loss(clip: str) -> Any:
    def factory(**options: Any) -> Any:
        from cwm.core.config import load_config
        from cwm.rl.losses import LossConfig, PolicyLoss

        return PolicyLoss(load_config(LossConfig, preset={**options, "clip": clip}))

    factory.__name__ = f"policy_loss_{clip}"
    factory.__doc__ = f"the token-level objective with clip mode {clip!r} (see cwm.rl.losses)"
    return factory


@hookimpl
def register_policy_losses() -> Factories:
    return {name: _policy_loss(name) for name in ("ppo", "cispo", "gspo", "reinforce")}


# --- commands: `cwm eval`, `cwm rl` -----------------------------------------------------------


@hookimpl
def register_commands(cli: Any) -> None:
    from cwm.rl.cli.eval import eval_command
    from cwm.rl.cli.rl import rl

    cli.add_command(eval_command)
    cli.add_command(rl)
