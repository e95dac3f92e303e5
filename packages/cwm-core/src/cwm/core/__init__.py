"""cwm.core: the contracts every CWM package shares.

Schemas, plugin hooks and registries, config loading, the tokenizer and the
CWM text formats, and (with the ``torch`` extra) the model.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cwm-core")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
