"""Plain-text documents (pre-training data)."""

from __future__ import annotations

from typing import Any

from cwm.core.schemas.base import Record


class Document(Record, tag="document", kw_only=True):
    text: str
    source: str = ""  # where it came from: a path, a package, a URL
    meta: dict[str, Any] = {}
