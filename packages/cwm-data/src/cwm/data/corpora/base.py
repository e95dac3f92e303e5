"""The corpus protocol: a named source of trace tasks (or of finished traces)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol, runtime_checkable

from cwm.core.schemas import Trace
from cwm.data.trace.task import TraceTask


@runtime_checkable
class Corpus(Protocol):
    """What ``registry("corpus").create(name, **options)`` returns.

    ``tasks()`` yields tasks to trace (and, for corpora that trace as they go,
    finished Traces). Each task's ``meta["function"]`` names the function it
    runs: dataset builds split and balance by it.
    """

    name: str

    def tasks(self) -> Iterator[TraceTask | Trace]: ...


@runtime_checkable
class RefiningCorpus(Corpus, Protocol):
    """A corpus that can propose more inputs once it knows which calls ran well."""

    def more_tasks(
        self, kept: Mapping[str, list[str]], want: Mapping[str, int]
    ) -> Iterator[TraceTask]:
        """New tasks for the functions in ``want`` (function -> how many more), given the calls kept so far."""
        ...
