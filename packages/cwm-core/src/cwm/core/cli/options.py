"""Click options shared by commands that take a config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds ``--config FILE`` and repeatable ``--set KEY=VALUE`` (passed as ``config``, ``overrides``)."""
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config value, e.g. --set model.dim=512 (repeatable).",
    )(func)
    return click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False),
        default=None,
        help="TOML config file; the defaults run on a laptop.",
    )(func)
