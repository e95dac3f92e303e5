"""cwm-rl's built-in plugins, registered through the ``cwm`` entry point like any other.

Hook implementations (``@hookimpl def register_...``) are added here as the
package's capabilities land; see cwm.core.plugins.hookspecs for the hooks.
Imports stay inside the factories so that loading plugins is cheap.
"""

from __future__ import annotations

from typing import Any

from cwm.core.plugins import hookimpl
from cwm.core.plugins.hookspecs import Factories


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
        "pass": _reward("OutcomeReward"),
        "outcome": _reward("OutcomeReward"),
        "frames-exact": _reward("FramesExact"),
    }


# --- environments, policies and `cwm eval` -------------------------------------------------


def _environment(name: str) -> Any:
    def factory(**options: Any) -> Any:
        from cwm.rl import envs

        return getattr(envs, name)(**options)

    factory.__name__ = f"environment_{name}"
    return factory


@hookimpl
def register_environments() -> Factories:
    return {
        "trace-prediction": _environment("TracePrediction"),
        "output-prediction": _environment("OutputPrediction"),
        "input-prediction": _environment("InputPrediction"),
    }


@hookimpl
def register_commands(cli: Any) -> None:
    from cwm.rl.eval.command import eval_command

    cli.add_command(eval_command)
