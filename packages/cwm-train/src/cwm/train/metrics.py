"""Training metrics: a JSONL log, a progress bar, and throughput/MFU arithmetic.

``RUN/metrics.jsonl`` holds one object a line: training steps (``step``, ``loss``,
``lr``, ``grad_norm``, ``tokens``, ``tokens_per_s``, ``mfu``, memory...) and
evaluations (``step``, ``eval_loss``). Only rank 0 writes. On resume the lines
after the resumed step are dropped, so the log is the run's one curve.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tqdm import tqdm

METRICS = "metrics.jsonl"


def mfu(
    tokens_per_s: float, flops_per_token: float, peak_flops: float | None, devices: int
) -> float | None:
    """Model FLOPs utilization: achieved training FLOP/s over the devices' peak."""
    if not peak_flops:
        return None
    return tokens_per_s * flops_per_token / (peak_flops * devices)


def read_metrics(run_dir: Path | str) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    return out


class MetricsLog:
    def __init__(self, run_dir: Path, *, active: bool, resume_step: int, total: int,
                 start: int, progress: bool):  # fmt: skip
        self.active = active
        self.path = Path(run_dir) / METRICS
        self._file = None
        self.bar: tqdm | None = None
        if not active:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= resume_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self._file = open(self.path, "a")  # noqa: SIM115 - open for the run's lifetime
        if progress:
            self.bar = tqdm(
                total=total, initial=start, desc="training", unit="step", dynamic_ncols=True
            )

    def set_total(self, total: int) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

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
        if self._file is not None:
            self._file.close()
