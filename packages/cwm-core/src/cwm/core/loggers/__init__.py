"""Experiment tracking: ``logger`` plugins, several at once, chosen in the config.

    [logging]
    backends = ["jsonl", "tensorboard"]      # or --set 'logging.backends=["jsonl","wandb"]'

    loggers = open_loggers(cfg.logging, run_dir, resume_step=step, active=world.main)
    loggers.log_config(to_dict(cfg))
    loggers.log(step, {"loss": 2.3, "lr": 1e-3})
    loggers.log_histogram(step, "rl/staleness", staleness)
    loggers.close()

Built-ins (cwm-core): ``jsonl`` (``RUN/metrics.jsonl``, the default), ``tensorboard``
(``RUN/tensorboard/``; extra ``cwm-core[tensorboard]``), ``wandb`` (offline in
``RUN/wandb/``; extra ``cwm-core[wandb]``). Under torchrun only rank 0 logs:
``active=False`` gives loggers that do nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

from cwm.core.config import Config
from cwm.core.loggers.base import Logger, Scalar
from cwm.core.loggers.jsonl import METRICS, read_metrics

__all__ = ["METRICS", "Logger", "Loggers", "LoggingConfig", "open_loggers", "read_metrics"]


class LoggingConfig(Config, frozen=True, kw_only=True):
    backends: list[str] = msgspec.field(default_factory=lambda: ["jsonl"])  # logger plugins
    project: str = "cwm"  # the W&B project
    wandb_mode: Literal["offline", "online", "disabled"] = "offline"


class Loggers:
    """Every chosen backend behind the calls of one."""

    def __init__(self, backends: Sequence[Logger]):
        self.backends = list(backends)

    def log(self, step: int, metrics: Mapping[str, Scalar]) -> None:
        for b in self.backends:
            b.log(step, metrics)

    def log_config(self, config: Mapping[str, Any]) -> None:
        for b in self.backends:
            b.log_config(config)

    def log_histogram(self, step: int, name: str, values: Sequence[float]) -> None:
        for b in self.backends:
            b.log_histogram(step, name, values)

    def close(self) -> None:
        for b in self.backends:
            b.close()


def open_loggers(
    cfg: LoggingConfig, run_dir: Path | str, *, resume_step: int = 0, active: bool = True
) -> Loggers:
    """The backends of ``cfg`` for ``run_dir``; none when ``active`` is false (ranks > 0)."""
    if not active:
        return Loggers([])
    from cwm.core.plugins import registry

    kinds = registry("logger")
    factories = [kinds.get(name) for name in dict.fromkeys(cfg.backends)]  # unknown: fail first
    options = {"project": cfg.project, "wandb_mode": cfg.wandb_mode}
    opened: list[Logger] = []
    try:
        for factory in factories:
            opened.append(factory(run_dir=Path(run_dir), resume_step=resume_step, **options))
    except BaseException:
        Loggers(opened).close()
        raise
    return Loggers(opened)
