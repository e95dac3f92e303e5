"""cwm.rl: environments, policies, evaluation (``cwm eval``), rewards, policy losses and
asynchronous RL (``cwm rl``)."""

from cwm.core import package_version

__version__ = package_version("cwm-rl")
