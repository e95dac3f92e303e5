"""cwm.data: the Python execution tracer, corpora, trace datasets, sandboxes, agentic environments and ForagerAgent."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cwm-data")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
