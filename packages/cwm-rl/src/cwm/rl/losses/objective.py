"""The token-level policy objective: an importance ratio, a clip mode, an optional KL.

Inputs are ``[N, T]`` tensors, one sample a row: the policy's logprobs of the sampled
tokens (with gradient), the behaviour logprobs (what the engine returned when it
sampled them), the sample's advantage on each of its tokens, and each token's
weight from `cwm.rl.losses.aggregate` (zero outside the trained tokens).

- ``ppo``: ``-min(r A, clip(r, 1 - eps_low, 1 + eps_high) A)``, ``r = exp(logp - old)``;
- ``cispo``: ``-sg(clip(r)) A logp``: the clipped ratio only weighs the gradient,
  so no token stops learning (MiniMax-M1);
- ``gspo``: the ppo form with one ratio per sample, the geometric mean of its
  tokens' ratios (each token carries it, with that token's gradient);
- ``reinforce``: ``-sg(min(r, tis_cap)) A logp``, truncated importance sampling
  (PipelineRL's default; ``tis_cap = 0``: plain REINFORCE).

Statistics are sums over the trained tokens (or samples), so they add up across
micro-batches and ranks like the loss does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from cwm.rl.losses.config import LossConfig

#: the statistics `policy_loss` returns, each a sum (divide by ``tokens`` or ``samples``)
STATS = (
    "tokens",
    "samples",
    "clip_low",
    "clip_high",
    "ratio",
    "ratio_max",
    "ratio_sq",
    "kl",
    "seq_masked",
)


@dataclass
class LossOutput:
    loss: Tensor  # sum(weight * token loss): backward this
    stats: dict[str, float]


def _kl(cfg: LossConfig, logp: Tensor, ref: Tensor) -> Tensor:
    """KL(policy || reference) per token, estimated from the sampled token."""
    d = ref - logp  # log(p_ref / p)
    if cfg.kl == "k1":
        return -d
    if cfg.kl == "k2":
        return 0.5 * d**2
    return torch.expm1(d) - d  # k3: unbiased and always >= 0


def policy_loss(
    cfg: LossConfig,
    logp: Tensor,
    old: Tensor,
    advantages: Tensor,
    weights: Tensor,
    ref: Tensor | None = None,
) -> LossOutput:
    """``logp, old, advantages, weights [N, T]`` (``ref``: the reference's logprobs when
    ``cfg.kl`` is set) -> the loss and its statistics."""
    trained = weights > 0
    w = weights.to(logp.dtype)
    log_ratio = (logp - old).masked_fill(~trained, 0.0)
    counts = trained.sum(1).clamp(min=1)
    seq_log_ratio = log_ratio.sum(1) / counts  # the log of the geometric-mean ratio
    keep = torch.ones_like(seq_log_ratio, dtype=torch.bool)
    if cfg.seq_mask:
        keep = seq_log_ratio.abs() <= math.log(cfg.seq_mask)
    low, high = cfg.band
    a = advantages
    if cfg.clip == "gspo":
        seq_ratio = seq_log_ratio.detach().exp()[:, None]
        ratio = (
            seq_ratio * (logp - logp.detach()).exp()
        )  # value: the sample's; gradient: the token's
    else:
        ratio = log_ratio.exp()
    if cfg.clip in ("ppo", "gspo"):
        token_loss = -torch.minimum(ratio * a, ratio.clamp(low, high) * a)
    elif cfg.clip == "cispo":
        token_loss = -ratio.detach().clamp(low, high) * a * logp
    else:  # reinforce with truncated importance sampling
        weight = ratio.detach().clamp(max=cfg.tis_cap) if cfg.tis_cap else torch.ones_like(ratio)
        token_loss = -weight * a * logp
    kl = torch.zeros_like(logp)
    if cfg.kl:
        if ref is None:
            raise ValueError(
                "policy_loss: the config asks for a KL term but no reference logprobs were given"
            )
        kl = _kl(cfg, logp, ref)
        token_loss = token_loss + cfg.kl_coef * kl
    w = w * keep[:, None]
    loss = (w * token_loss.masked_fill(~trained, 0.0)).sum()
    r = ratio.detach()
    t = trained & keep[:, None]
    stats = {
        "tokens": float(trained.sum()),
        "samples": float((trained.sum(1) > 0).sum()),
        # a clip that bites: the ratio left the band on the side where the advantage pushes
        "clip_low": float(((r < low) & (a < 0) & t).sum()),
        "clip_high": float(((r > high) & (a > 0) & t).sum()),
        "ratio": float(r[trained].sum()),
        "ratio_max": float(r[trained].max()) if trained.any() else 0.0,
        "ratio_sq": float((r[trained] ** 2).sum()),
        "kl": float(kl.detach()[trained].sum()),
        "seq_masked": float((~keep & (trained.sum(1) > 0)).sum()),
    }
    return LossOutput(loss, stats)


def merge_stats(parts: list[dict[str, float]]) -> dict[str, float]:
    """Sums over micro-batches (``ratio_max``: the max)."""
    out = dict.fromkeys(STATS, 0.0)
    for p in parts:
        for k, v in p.items():
            out[k] = max(out[k], v) if k == "ratio_max" else out[k] + v
    return out


def summarize(stats: dict[str, float]) -> dict[str, float]:
    """Means and the effective sample size of the importance weights (as a fraction).
    A step that trained no token (every group zero-variance) has none of them: a mean
    over nothing would read as a ratio of 0 and a perfect sample size."""
    if not stats["tokens"]:
        return {"seq_masked": stats["seq_masked"]}
    n = stats["tokens"]
    return {
        "clip_low_frac": stats["clip_low"] / n,
        "clip_high_frac": stats["clip_high"] / n,
        "is_weight_mean": stats["ratio"] / n,
        "is_weight_max": stats["ratio_max"],
        # (sum r)^2 / (n sum r^2): 1 when on-policy, small when a few tokens dominate
        "is_ess": stats["ratio"] ** 2 / (n * stats["ratio_sq"]) if stats["ratio_sq"] else 1.0,
        "kl": stats["kl"] / n,
        "seq_masked": stats["seq_masked"],
    }
