"""The plugin module named by the ``cwm`` entry point.

Implement any hook from ``cwm.core.plugins.hookspecs`` with ``@hookimpl``. Keep
this module cheap to import (``cwm --help`` imports it): import heavy
libraries inside the factories and commands.
"""

from __future__ import annotations

from typing import Any

import click

from cwm.core.envs import Rollout
from cwm.core.plugins import hookimpl


class FewTurnsReward:
    """Rewards finishing an episode in few turns: 1.0 within ``target`` actions, then decaying.

    Rewards follow the ``reward`` kind's Protocol (`cwm.core.envs.Reward`):
    ``reward(rollout) -> float`` and a ``range``.
    """

    def __init__(self, target: int = 10):
        self.target = target
        self.range = (0.0, 1.0)

    def __call__(self, rollout: Rollout) -> float:
        return min(1.0, self.target / max(len(rollout.actions), 1))


@hookimpl
def register_rewards() -> dict[str, Any]:
    # name -> factory; `registry("reward").create("few-turns", target=5)` calls it
    return {"few-turns": FewTurnsReward}


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command("template-hello")
    @click.argument("name", default="world")
    def hello(name: str) -> None:
        """Say hello (the template plugin's example command)."""
        click.echo(f"hello, {name}, from cwm-plugin-template")
