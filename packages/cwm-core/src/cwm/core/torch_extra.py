"""A clear error, instead of an ImportError, where the ``torch`` extra is missing."""

from __future__ import annotations

import importlib.util

from cwm.core.errors import CwmError


def require_torch(what: str) -> None:
    if importlib.util.find_spec("torch") is None:
        raise CwmError(f"{what} needs torch: pip install 'cwm-core[torch]'")
