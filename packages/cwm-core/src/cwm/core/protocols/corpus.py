"""What a ``corpus`` plugin's factory returns: a named source of trace tasks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from cwm.core.schemas import Trace


class TraceTaskLike(Protocol):
    """A call to trace: the ``{"id", "source", "call"}`` row of a tasks file
    (cwm-data's ``TraceTask`` is one)."""

    @property
    def id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def call(self) -> str: ...
    @property
    def module(self) -> str: ...
    @property
    def meta(self) -> dict[str, Any]: ...


@runtime_checkable
class Corpus(Protocol):
    """``tasks()`` yields tasks to trace (and, for corpora that trace as they go, finished
    Traces); each task's ``meta["function"]`` names the function it runs, which dataset
    builds split and balance by."""

    name: str

    def tasks(self) -> Iterator[TraceTaskLike | Trace]: ...
