"""Rotary position embeddings with Llama-3 scaling, in the rotate-half layout.

The rotate-half layout pairs dimension ``i`` with ``i + D/2`` in each head (what
Hugging Face checkpoints store); Meta's native checkpoints pair ``2i`` with
``2i + 1`` (interleaved), and the checkpoint converters permute between them.
Everything here runs in float32 and is cast to the activations' dtype last.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cwm.core.model.config import ModelConfig


def inv_freq(config: ModelConfig, device: torch.device | str | None = None) -> Tensor:
    """The ``head_dim / 2`` rotation frequencies, scaled as Llama 3 does when configured."""
    dim = config.head_dim
    exponents = torch.arange(0, dim, 2, dtype=torch.int64, device=device).float() / dim
    freqs = 1.0 / (config.rope_theta**exponents)
    scaling = config.rope_scaling
    if scaling is None:
        return freqs
    low_wavelen = scaling.original_max_seq_len / scaling.low_freq_factor
    high_wavelen = scaling.original_max_seq_len / scaling.high_freq_factor
    wavelen = 2 * math.pi / freqs
    # long wavelengths are divided by the factor, short ones kept, the band between blended
    scaled = torch.where(wavelen > low_wavelen, freqs / scaling.factor, freqs)
    smooth = (scaling.original_max_seq_len / wavelen - scaling.low_freq_factor) / (
        scaling.high_freq_factor - scaling.low_freq_factor
    )
    blended = (1 - smooth) * scaled / scaling.factor + smooth * scaled
    in_band = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return torch.where(in_band, blended, scaled)


def rope_tables(positions: Tensor, freqs: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``cos``, ``sin`` of shape ``[B, S, head_dim / 2]`` for integer ``positions [B, S]``
    (``B`` may be 1 when every row has the same positions). Both halves of a head
    rotate by the same angles."""
    angles = positions[..., None].float() * freqs
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x [B, S, H, D]`` by the tables of its positions (``[B or 1, S, D / 2]``).

    Dimension ``i`` pairs with ``i + D/2``: ``[x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin]``
    (the reference's ``x * cos + rotate_half(x) * sin`` without its negated copy of x).
    The result keeps ``x``'s dtype: under autocast the projections are bf16 while the
    tables follow the fp32 residual stream, and a promoted q/k would no longer match v
    (flash-attn rejects the mix; flex and SDPA would compute in fp32).
    """
    half = x.shape[-1] // 2
    cos, sin = cos[:, :, None, :].to(x.dtype), sin[:, :, None, :].to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
