"""What a ``logger`` plugin's factory returns: where a run's metrics go."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Logger(Protocol):
    """Receives a run's config once, then metrics and histograms by step; ``close()``
    flushes and releases what it holds (files, a writer thread)."""

    def log(self, step: int, metrics: Mapping[str, float]) -> None: ...

    def log_config(self, config: Mapping[str, Any]) -> None: ...

    def log_histogram(self, step: int, name: str, values: Sequence[float]) -> None: ...

    def close(self) -> None: ...
