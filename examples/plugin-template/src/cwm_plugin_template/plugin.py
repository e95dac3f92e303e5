"""The plugin module named by the ``cwm`` entry point.

Implement any hook from ``cwm.core.plugins.hookspecs`` with ``@hookimpl``. Keep
this module cheap to import (``cwm --help`` imports it): import heavy
libraries inside the factories and commands.
"""

from __future__ import annotations

from typing import Any

import click

from cwm.core.plugins import hookimpl


class ShortAnswerReward:
    """A reward that prefers short answers: 1.0 at or under ``target`` characters, then decaying."""

    def __init__(self, target: int = 200):
        self.target = target

    def __call__(self, completion: str) -> float:
        return min(1.0, self.target / max(len(completion), 1))


@hookimpl
def register_rewards() -> dict[str, Any]:
    # name -> factory; `registry("reward").create("short-answer", target=50)` calls it
    return {"short-answer": ShortAnswerReward}


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command("template-hello")
    @click.argument("name", default="world")
    def hello(name: str) -> None:
        """Say hello (the template plugin's example command)."""
        click.echo(f"hello, {name}, from cwm-plugin-template")
