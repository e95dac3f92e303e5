"""cwm.train: one trainer for pre-training, mid-training and SFT; packing, bucketing, parallelism, hardware backends."""

from cwm.core import package_version

__version__ = package_version("cwm-train")
