"""cwm.serve: the inference engine, the OpenAI-compatible server and the neural debugger."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cwm-serve")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
