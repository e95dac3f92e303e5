"""The corpus protocols: `Corpus` (cwm-core's, what the ``corpus`` kind's factories
return) and `RefiningCorpus`, a corpus that proposes more inputs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol, runtime_checkable

from cwm.core.protocols import Corpus
from cwm.data.trace.task import TraceTask


@runtime_checkable
class RefiningCorpus(Corpus, Protocol):
    """A corpus that can propose more inputs once it knows which calls ran well."""

    def more_tasks(
        self, kept: Mapping[str, list[str]], want: Mapping[str, int]
    ) -> Iterator[TraceTask]:
        """New tasks for the functions in ``want`` (function -> how many more), given the calls kept so far."""
        ...
