"""cwm.rl: environments, policies, evaluation (``cwm eval``) and rewards; the policy losses
and the async actor/learner are to come."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cwm-rl")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
