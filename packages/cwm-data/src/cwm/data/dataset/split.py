"""The held-out split: whole source functions, chosen by a hash of their name (stable across builds)."""

from __future__ import annotations

import hashlib


def is_heldout(function: str, fraction: float, seed: int = 0) -> bool:
    digest = hashlib.sha256(f"{seed}:{function}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64 < fraction
