"""Options both cwm-serve commands take."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

threads_option: Callable[[Callable[..., Any]], Callable[..., Any]] = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for torch (default: torch's choice; 1 suits tiny models).",
)


def set_threads(threads: int | None) -> None:
    """Apply ``--threads`` (None: leave torch's choice)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
