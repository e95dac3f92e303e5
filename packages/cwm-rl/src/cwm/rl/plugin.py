"""cwm-rl's built-in plugins, registered through the ``cwm`` entry point like any other.

Hook implementations (``@hookimpl def register_...``) are added here as the
package's capabilities land; see cwm.core.plugins.hookspecs for the hooks.
Imports stay inside the factories so that loading plugins is cheap.
"""

from __future__ import annotations

from typing import Any

from cwm.core.plugins import hookimpl
from cwm.core.plugins.hookspecs import Factories

# --- rewards (issue 7) ----------------------------------------------------------------------


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
    }


# --- end of issue 7 -------------------------------------------------------------------------

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


# --- the `cwm rl` command ---------------------------------------------------------------------


@hookimpl
def register_commands(cli: Any) -> None:
    from cwm.rl.cli import rl

    cli.add_command(rl)
