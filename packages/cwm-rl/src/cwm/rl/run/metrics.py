"""What a trained batch says about the run: rewards per task, lengths, staleness."""

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
