"""cwm.data: the Python execution tracer, corpora, trace datasets, sandboxes, agentic environments and ForagerAgent."""

from typing import Any


def __getattr__(name: str) -> Any:
    # on first use: importlib.metadata is slow to import, and a trace worker never needs it
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cwm-data")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"
