"""What a ``logger`` plugin's factory returns: one experiment-tracking backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

#: a metric value; None (a metric with no value this step) and text are skipped by
#: backends of numbers
Scalar = float | int | bool | str | None


@runtime_checkable
class Logger(Protocol):
    """Receives a run's config once, then metrics and histograms by step; ``close()``
    flushes and releases what it holds (files, a writer thread).

    Factories are called as ``factory(run_dir=Path, resume_step=int, **options)``
    (`cwm.core.loggers.LoggingConfig` gives the options). ``resume_step``: the step a
    resumed run continues from; a backend that keeps a history drops what was logged
    after it, so a run's curve is one line.
    """

    def log(self, step: int, metrics: Mapping[str, Scalar]) -> None: ...

    def log_config(self, config: Mapping[str, Any]) -> None: ...

    def log_histogram(self, step: int, name: str, values: Sequence[float]) -> None:
        """Where the backend has histograms; the others ignore it."""
        ...

    def close(self) -> None: ...
