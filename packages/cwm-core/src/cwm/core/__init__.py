"""cwm.core: the contracts every CWM package shares.

Schemas, plugin hooks and registries, config loading, the tokenizer and the
CWM text formats, and (with the ``torch`` extra) the model.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # on first use: importlib.metadata is slow to import, and most importers never need it
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cwm-core")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"
