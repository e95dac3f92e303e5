"""What a ``mutator`` plugin's factory returns: a bug-injection operator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable


class MutationLike(Protocol):
    """One text edit at exact byte offsets of the UTF-8 source."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def replacement(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def description(self) -> str: ...

    def apply(self, source: str) -> str: ...


@runtime_checkable
class Mutator(Protocol):
    """``mutations(source)`` proposes small edits; with ``checked`` every mutant parses."""

    name: str

    def mutations(self, source: str, *, checked: bool = ...) -> Iterator[MutationLike]: ...
