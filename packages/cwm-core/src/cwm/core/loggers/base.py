"""Helpers the logger backends share; the `Logger` Protocol is in `cwm.core.protocols`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cwm.core.protocols.logger import Logger, Scalar

__all__ = ["Logger", "Scalar", "flatten", "scalars"]


def scalars(metrics: Mapping[str, Scalar]) -> dict[str, float]:
    """The numeric entries of ``metrics`` (None and text dropped), for backends of numbers."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and v is not None}


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 1e-3}}`` -> ``{"optim.lr": 1e-3}``: the dotted keys of ``--set``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out
