"""cwm.core: the contracts every CWM package shares.

Schemas, plugin hooks and registries, config loading, the tokenizer and the
CWM text formats, and (with the ``torch`` extra) the model.
"""

from typing import Any


def package_version(distribution: str) -> str:
    """The installed version of ``distribution``; "0.0.0" when running from a source tree that
    is not installed. importlib.metadata loads on the first call: it is slow to import."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return package_version("cwm-core")
