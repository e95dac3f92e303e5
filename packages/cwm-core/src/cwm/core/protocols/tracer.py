"""What a ``tracer`` plugin's factory returns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from cwm.core.schemas import Trace


@runtime_checkable
class Tracer(Protocol):
    """Traces one call, or many tasks, into `Trace` records (frames in the trace format).

    ``trace(source, "f(1)")`` runs ``source`` as module ``module``, evaluates the call in
    it and records every frame of the called function; ``sandbox=False`` traces in this
    interpreter with no isolation.
    """

    name: str

    def trace(
        self, source: str, call: str, *, id: str = ..., module: str = ..., sandbox: bool = ...
    ) -> Trace: ...

    def trace_tasks(self, tasks: Iterable[Any], *, workers: int = ...) -> Iterator[Trace]:
        """One Trace per task, in input order; tasks are the tracer package's own rows
        (``TraceTaskLike``, e.g. cwm-data's ``TraceTask``)."""
        ...
