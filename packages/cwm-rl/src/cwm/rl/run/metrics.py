"""What the run reports: a trained batch's rewards per task, lengths and staleness; the
actor's and the learner's use of the wall time (the same definitions embedded and under
torchrun)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from cwm.rl.run.samples import Group


def batch_metrics(batch: list[Group], version: int) -> dict[str, Any]:
    """Metrics of ``batch``, trained at learner ``version``."""
    samples = [s for g in batch for s in g.samples]
    lengths = sorted(s.response_tokens for s in samples)
    by_task: dict[str, list[float]] = {}
    for g in batch:
        by_task.setdefault(g.spec.task, []).extend(s.reward for s in g.samples)
    lag = Counter(version - s.oldest for s in samples)
    return {
        "reward": sum(s.reward for s in samples) / len(samples),
        **{f"reward/{t}": sum(r) / len(r) for t, r in sorted(by_task.items())},
        "response_len_mean": sum(lengths) / len(lengths),
        "response_len_p95": lengths[min(len(lengths) - 1, int(0.95 * len(lengths)))],
        "truncated_frac": sum(s.truncated for s in samples) / len(samples),
        "staleness": {str(k): lag[k] for k in sorted(lag)},
        "staleness_max": max(lag),
        "versions_per_sample": sum(len(set(s.versions)) for s in samples) / len(samples),
        "groups": [f"{g.spec.task}:{g.row_id}" for g in batch],
    }


def generation_rates(tokens: int, busy_seconds: float, wall: float) -> dict[str, float]:
    """The actor's generation over ``wall`` seconds: ``tokens`` generated while its engine
    stepped for ``busy_seconds`` (the rest it waited: for the lag bound, a new version,
    an environment)."""
    return {
        "generated_tokens_per_s": tokens / wall if wall else 0.0,
        "generated_tokens_per_busy_s": tokens / busy_seconds if busy_seconds else 0.0,
        "actor_busy_frac": busy_seconds / wall if wall else 0.0,
    }


def trainer_idle_frac(train_seconds: float, wall: float) -> float:
    """The share of ``wall`` the learner did not spend in optimizer steps."""
    return 1 - train_seconds / wall if wall else 0.0


def idle_fractions(train_seconds: float, wall: float, warmup: float) -> dict[str, float]:
    """The learner's idle share of the whole run, and of the run after ``warmup`` (the wait
    for the first batch: nothing can train before it, in any schedule), with that wait."""
    return {
        "trainer_idle_frac": trainer_idle_frac(train_seconds, wall),
        "trainer_idle_frac_after_warmup": trainer_idle_frac(train_seconds, wall - warmup),
        "warmup_seconds": warmup,
    }
