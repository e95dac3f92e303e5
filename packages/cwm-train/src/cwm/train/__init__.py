"""cwm.train: one trainer for pre-training, mid-training and SFT; packing, bucketing, parallelism, hardware backends."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cwm-train")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
