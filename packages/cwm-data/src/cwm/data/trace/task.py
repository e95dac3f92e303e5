"""A trace task: a module's source and a call expression to trace in it."""

from __future__ import annotations

from typing import Any

import msgspec


class TraceTask(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a tasks file: ``{"id", "source", "call"}`` (``module``, ``package``, ``meta`` optional).

    ``source`` runs as a module named ``module`` (its ``__name__``; not ``__main__``,
    so a ``if __name__ == "__main__":`` block stays off), then ``call``, a call
    expression such as ``f(1, [2, 3])`` or ``Stack().push(3)``, is evaluated in it.
    The function it calls must be defined in ``source``: that is the entry.
    """

    id: str
    source: str
    call: str
    module: str = "snippet"
    package: str | None = (
        None  # ``__package__`` for relative imports (default: the module's parent)
    )
    meta: dict[str, Any] = {}
