"""What an attention backend is: build a mask once per forward, then attend per layer.

Backends are plugins of kind ``attention``; the model picks one by name
(``ModelConfig.attention``) through ``registry("attention")``. Every backend
derives its mask from `cwm.core.attention.masks`, so they agree by construction
and the tests check that they do.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class AttentionBackend(Protocol):
    name: str

    def prepare(
        self, *, seq_len: int, doc_ids: Tensor | None, window: int | None, batch: int, device: Any
    ) -> Any:
        """Whatever this backend needs to apply the mask of one window (a dense mask,
        a BlockMask, varlen offsets). Built once per forward and shared by every
        layer with that window."""
        ...

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, mask: Any) -> Tensor:
        """``q [B, S, H, D]``, ``k``/``v`` ``[B, S, H_kv, D]`` (after RoPE) -> ``[B, S, H, D]``.

        ``H`` is a multiple of ``H_kv`` (grouped-query attention); the scale is
        ``D ** -0.5``."""
        ...
