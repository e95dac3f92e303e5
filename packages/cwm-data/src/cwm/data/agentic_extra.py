"""A clear error, instead of an ImportError, where cwm-data's ``agentic`` extra is missing.

The agentic half (sandboxes, environments, ForagerAgent) drives the Docker engine
and builds sdists; tracing and ``cwm data build`` need none of that.
"""

from __future__ import annotations

import importlib.util

from cwm.core.errors import CwmError

MODULES = ("docker", "packaging", "pip")  # the extra's distributions, by import name


class AgenticExtraMissing(CwmError, ModuleNotFoundError):
    """A `CwmError` (one line in ``cwm``) that is also what Python raises for a missing module."""


def require_agentic(what: str) -> None:
    missing = [m for m in MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise AgenticExtraMissing(
            f"{what} need cwm-data's agentic extra ({', '.join(missing)} missing): "
            "pip install 'cwm-data[agentic]'",
            name=missing[0],
        )
