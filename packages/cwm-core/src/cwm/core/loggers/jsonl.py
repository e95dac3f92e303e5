"""The ``jsonl`` logger: ``RUN/metrics.jsonl``, one JSON object a line (the default).

Each line is ``{"step": N, **metrics}``. On resume the lines after the resumed
step are dropped, so the file is the run's one curve. The config is not repeated
here (each command writes ``RUN/config.json``), nor are histograms (use
tensorboard or wandb).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cwm.core.loggers.base import Scalar

METRICS = "metrics.jsonl"


def read_metrics(run_dir: Path | str) -> list[dict[str, Any]]:
    """Every record of ``RUN/metrics.jsonl`` (a line cut by a crash is skipped)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class JsonlLogger:
    def __init__(self, run_dir: Path | str, resume_step: int = 0, **_: Any):
        self.path = Path(run_dir) / METRICS
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= resume_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self._file = open(self.path, "a")  # noqa: SIM115 - open for the run's lifetime

    def log(self, step: int, metrics: Mapping[str, Scalar]) -> None:
        self._file.write(json.dumps({"step": step, **metrics}) + "\n")
        self._file.flush()

    def log_config(self, config: Mapping[str, Any]) -> None:
        pass

    def log_histogram(self, step: int, name: str, values: Sequence[float]) -> None:
        pass

    def close(self) -> None:
        self._file.close()
