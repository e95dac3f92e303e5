"""Training metrics: the run's loggers, a progress bar, and throughput/MFU arithmetic.

Every logger of ``logging.backends`` (``RUN/metrics.jsonl`` by default) gets the
training steps (``step``, ``loss``, ``lr``, ``grad_norm``, ``tokens``,
``tokens_per_s``, ``mfu``, memory...) and evaluations (``step``, ``eval_loss``).
Only rank 0 logs. On resume the records after the resumed step are dropped, so
the log is the run's one curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cwm.core.loggers import METRICS, LoggingConfig, open_loggers, read_metrics

__all__ = ["METRICS", "MetricsLog", "mfu", "read_metrics"]


def mfu(
    tokens_per_s: float, flops_per_token: float, peak_flops: float | None, devices: int
) -> float | None:
    """Model FLOPs utilization: achieved training FLOP/s over the devices' peak."""
    if not peak_flops:
        return None
    return tokens_per_s * flops_per_token / (peak_flops * devices)


class MetricsLog:
    def __init__(
        self,
        run_dir: Path,
        *,
        active: bool,
        resume_step: int,
        total: int,
        start: int,
        progress: bool,
        logging: LoggingConfig | None = None,
        config: Mapping[str, Any] | None = None,
    ):
        self.loggers = open_loggers(
            logging or LoggingConfig(), run_dir, resume_step=resume_step, active=active
        )
        if config is not None:
            self.loggers.log_config(config)
        self.bar: tqdm | None = None
        if active and progress:
            self.bar = tqdm(
                total=total, initial=start, desc="training", unit="step", dynamic_ncols=True
            )

    def set_total(self, total: int) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def write(self, record: dict[str, Any]) -> None:
        """Log ``record`` (which holds its ``step``) to every backend."""
        self.loggers.log(record["step"], record)

    def step(self, record: dict[str, Any], *, log: bool) -> None:
        if log:
            self.write(record)
        if self.bar is not None:
            post = {"loss": f"{record['loss']:.3f}", "tok/s": f"{record['tokens_per_s']:,.0f}"}
            if record.get("mfu") is not None:
                post["mfu"] = f"{100 * record['mfu']:.1f}%"
            self.bar.set_postfix(post, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.loggers.close()
