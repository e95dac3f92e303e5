"""Reading data rows: each environment names the keys it needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cwm.core.errors import CwmError


def fields(row: Mapping[str, Any], *keys: str) -> list[str]:
    """The row's string values for ``keys``, or an error that names the row and the key."""
    out = []
    for key in keys:
        value = row.get(key)
        if not isinstance(value, str):
            raise CwmError(f"row {row.get('id', '?')!r}: {key!r} must be a string, got {value!r}")
        out.append(value)
    return out
