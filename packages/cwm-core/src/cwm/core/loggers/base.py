"""What a ``logger`` plugin's factory returns: one experiment-tracking backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

#: a metric value; None (a metric with no value this step) is skipped by every backend
Scalar = float | int | bool | None


@runtime_checkable
class Logger(Protocol):
    """Factories are called as ``factory(run_dir=Path, resume_step=int, options=dict)``.

    ``resume_step``: the step a resumed run continues from; a backend that keeps a
    history drops what was logged after it, so a run's curve is one line.
    """

    def log(self, step: int, metrics: Mapping[str, Scalar]) -> None: ...

    def log_config(self, config: Mapping[str, Any]) -> None: ...

    def log_histogram(self, step: int, name: str, values: Sequence[float]) -> None:
        """Where the backend has histograms; the others ignore it."""
        ...

    def close(self) -> None: ...


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
