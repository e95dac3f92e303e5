"""The built-in corpus factories (registered in `cwm.data.plugin`) and corpus specs.

A spec is ``name`` or ``name:argument``: ``stdlib``, ``package:networkx``,
``directory:src``, ``jsonl:tasks.jsonl``, ``pytest:path/to/repo``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_HARVEST_OPTIONS = (
    "candidates_per_function",
    "max_source_lines",
    "max_functions",
    "seed",
    "progress",
)


def _harvest(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in _HARVEST_OPTIONS}


def stdlib(**options: Any) -> Any:
    """Functions of this Python's standard library (call sites also from its test suite)."""
    from cwm.data.corpora.harvest import stdlib_corpus

    return stdlib_corpus(**_harvest(options))


def package(name: str, **options: Any) -> Any:
    """Functions of an installed package, by import name."""
    from cwm.data.corpora.harvest import package_corpus

    return package_corpus(name, **_harvest(options))


def directory(path: str, **options: Any) -> Any:
    """Functions of any directory of Python sources."""
    from cwm.data.corpora.harvest import directory_corpus

    return directory_corpus(path, **_harvest(options))


def jsonl(path: str, **options: Any) -> Any:
    """Tasks from a JSONL file (``{"id", "source", "call"}`` per line)."""
    from cwm.data.corpora.jsonl import JsonlCorpus

    return JsonlCorpus(Path(path))


def pytest(path: str, **options: Any) -> Any:
    """Traces of a repository's functions taken while its test suite runs."""
    from cwm.data.corpora.pytest_corpus import PytestCorpus

    keep = {
        k: v
        for k, v in options.items()
        if k in ("functions", "max_per_function", "pytest_args", "settings", "progress")
    }
    return PytestCorpus(Path(path), **keep)


BUILTIN = {
    "stdlib": stdlib,
    "package": package,
    "directory": directory,
    "jsonl": jsonl,
    "pytest": pytest,
}


def from_spec(spec: str, **options: Any) -> Any:
    """Create the corpus a spec names, through the corpus registry (so plugins' corpora work too)."""
    from cwm.core.errors import CwmError
    from cwm.core.plugins import registry

    name, _, argument = spec.partition(":")
    factory = registry("corpus").get(name)
    try:
        return factory(argument, **options) if argument else factory(**options)
    except TypeError as exc:
        raise CwmError(
            f"corpus {spec!r}: {exc}; specs look like stdlib, package:NAME, jsonl:PATH"
        ) from None
