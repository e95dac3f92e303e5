"""Reward shaping applied to a batch before it trains: overlong replies and degenerate samples.

- Overlong: a reply whose action tokens pass ``max_tokens - buffer`` loses reward
  linearly, up to ``coef`` at ``max_tokens`` (DAPO's soft overlong punishment), so the
  policy learns to finish instead of being cut. ``max_tokens`` may follow a schedule:
  from ``max_tokens`` at the first step to ``max_tokens_end`` at the last.
- Degenerate samples: near-uniform draws of rare tokens (the mean behaviour logprob of
  the reply below ``min_logprob``) or a reply that repeats itself (the share of repeated
  4-grams at least ``max_repeat``). ``degenerate = "log"`` only counts them (to calibrate
  the thresholds first), ``"drop"`` removes them from their group before training.
"""

from __future__ import annotations

from typing import Any, Literal

from cwm.core.config import Config
from cwm.rl.run.samples import Group, Sample


class ShapingConfig(Config, frozen=True, kw_only=True):
    overlong_max_tokens: int = 0  # 0: no overlong penalty
    overlong_max_tokens_end: int = 0  # 0: the same at every step
    overlong_buffer: int = 64
    overlong_coef: float = 1.0
    degenerate: Literal["off", "log", "drop"] = "log"
    min_logprob: float = -8.0
    max_repeat: float = 0.8


def repeated_fraction(tokens: list[int], n: int = 4) -> float:
    """The share of the reply's n-grams that already occurred earlier in it."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def degenerate(s: Sample, cfg: ShapingConfig) -> bool:
    reply = [t for t, a in zip(s.tokens, s.action) if a]
    if not reply:
        return False
    mean_lp = sum(s.logprobs) / len(s.logprobs) if s.logprobs else 0.0
    return mean_lp < cfg.min_logprob or repeated_fraction(reply) >= cfg.max_repeat


def overlong_penalty(length: int, limit: int, cfg: ShapingConfig) -> float:
    start = limit - cfg.overlong_buffer
    if length <= start:
        return 0.0
    return -cfg.overlong_coef * min(1.0, (length - start) / max(cfg.overlong_buffer, 1))


def shape(
    batch: list[Group], cfg: ShapingConfig, step: int, steps: int
) -> tuple[list[Group], dict[str, Any]]:
    """The batch with shaped rewards (and degenerate samples dropped when asked); counts."""
    limit = cfg.overlong_max_tokens
    if limit and cfg.overlong_max_tokens_end:
        limit += round((cfg.overlong_max_tokens_end - limit) * step / max(steps - 1, 1))
    penalized = found = dropped = 0
    out = []
    for g in batch:
        kept = []
        for s in g.samples:
            if limit:
                p = overlong_penalty(s.response_tokens, limit, cfg)
                penalized += p < 0
                s.reward += p
            bad = cfg.degenerate != "off" and degenerate(s, cfg)
            found += bad
            if bad and cfg.degenerate == "drop":
                dropped += 1
                continue
            kept.append(s)
        if kept:
            out.append(
                Group(spec=g.spec, row_id=g.row_id, issue_version=g.issue_version, samples=kept)
            )
    if not out:  # never train on nothing: a batch of only degenerate samples stays
        out, dropped = batch, 0
    stats = {"overlong_penalized": penalized, "degenerate": found, "degenerate_dropped": dropped}
    if cfg.overlong_max_tokens:
        stats["overlong_limit"] = limit
    return out, stats
