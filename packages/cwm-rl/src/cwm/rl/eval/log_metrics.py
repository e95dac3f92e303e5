"""A run's summary through the ``logger`` plugins (``metrics.jsonl`` by default, TensorBoard,
W&B), so evaluations sit beside training curves.

One point per run, at the policy's weights version: ``TASK/METRIC`` (the mean) and
``TASK/METRIC/stderr`` for every metric, ``TASK/score``. A rerun over the same folder
replaces the point (a resumed evaluation has one summary).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cwm.core.loggers import LoggingConfig, open_loggers


def summary_scalars(summary: dict[str, Any]) -> dict[str, float]:
    task = summary["task"]
    out = {f"{task}/score": float(summary["score"])}
    for name, m in summary["metrics"].items():
        out[f"{task}/{name}"] = float(m["mean"])
        out[f"{task}/{name}/stderr"] = float(m["stderr"])
    return out


def log_summary(
    summary: dict[str, Any], cfg: LoggingConfig, out: Path, *, step: int, config: dict[str, Any]
) -> None:
    loggers = open_loggers(cfg, out, resume_step=-1)  # the earlier run's point is replaced
    try:
        loggers.log_config(config)
        loggers.log(step, summary_scalars(summary))
    finally:
        loggers.close()
