"""cwm.data: the Python execution tracer, corpora, trace datasets, sandboxes, agentic environments and ForagerAgent."""

from typing import Any

from cwm.core import package_version


def __getattr__(name: str) -> Any:
    # on first use: a trace worker never needs it, and importlib.metadata is slow to import
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return package_version("cwm-data")
