"""The CWM model: config and flavors (no torch needed), and with the ``torch`` extra
the `Transformer`, its KV-cache protocol and reference greedy decoding.

    from cwm.core.model import FLAVORS, build_model
    model = build_model(FLAVORS["tiny"], seed=0)
"""

from __future__ import annotations

from typing import Any

from cwm.core.model.config import EMBEDDED_VOCAB, FLAVORS, ModelConfig, RopeScaling, flavor

# torch-backed names load on first use, so configs and flavors work without torch
_LAZY = {
    "Transformer": "cwm.core.model.transformer",
    "build_model": "cwm.core.model.transformer",
    "AttentionCache": "cwm.core.model.cache",
    "DenseKVCache": "cwm.core.model.cache",
    "greedy": "cwm.core.model.generate",
}

__all__ = ["EMBEDDED_VOCAB", "FLAVORS", "ModelConfig", "RopeScaling", "flavor", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
