"""Exact match during training: when does the copying skill appear?

A few times during the run (at fixed shares of the training budget), the model
is scored with the demo's own scorer (`score_model`: teacher-forced greedy next-
frame exact match) on a small fixed subset of the held-out calls. The probe's
time is taken from the training budget (the trainer counts it as trained time)
and capped at `PROBE_SHARE` of it: a point that would pass the cap is skipped
(its cost is the last point's, or for the first one, the subset's tokens at the
training's tokens/s), so a short or slow run trains rather than probes.
"""

from __future__ import annotations

import time
from typing import Any

from torch import nn

from cwm.core.formats.trace import FrameTrace
from cwm.train.demo.evaluate import score_model

#: frames of held-out calls the probe scores each time (a few seconds on 2 cores)
PROBE_FRAMES = 200
#: shares of the training budget after which the probe scores the model
PROBE_AT = (0.2, 0.4, 0.6, 0.8)
#: most of the training budget the probe may use
PROBE_SHARE = 0.05


class ExactMatchProbe:
    """An ``on_step`` hook for `Trainer.run`: scores ``model`` on ``traces`` once the
    trained seconds pass each of ``at`` x ``budget``, and keeps the points."""

    def __init__(
        self,
        model: nn.Module,
        traces: list[FrameTrace],
        budget: float,
        at: tuple[float, ...] = PROBE_AT,
        share: float = PROBE_SHARE,
    ) -> None:
        self.model, self.traces = model, traces
        self.times = [s * budget for s in at]
        self.allowed, self.used, self.cost = share * budget, 0.0, None
        self.tokens = sum(len(ft.ids) for ft in traces)
        self.points: list[dict[str, Any]] = []
        self.skipped = 0
        self.step, self.wall = 0, 0.0  # where training is (for a last point after it)

    def __call__(self, step: int, counters: dict[str, Any]) -> dict[str, Any] | None:
        self.step, self.wall = step, counters["wall"]
        if not self.times or self.wall < self.times[0]:
            return None
        while self.times and self.wall >= self.times[0]:
            self.times.pop(0)
        cost = self.cost
        if cost is None:  # forward only, at the training's pace: a rough guess
            cost = self.tokens * counters["seconds"] / max(counters["tokens"], 1)
        if self.used + cost > self.allowed:
            self.skipped += 1
            return None
        return self.score(step, self.wall)

    def score(self, step: int, wall: float) -> dict[str, Any]:
        """Score now and keep the point; returns the record the trainer logs."""
        training, started = self.model.training, time.perf_counter()
        self.model.eval()
        try:
            em = score_model(self.model, self.traces)["next_frame_exact_match"]
        finally:
            self.model.train(training)
        self.cost = time.perf_counter() - started
        self.used += self.cost
        self.points.append({"step": step, "train_seconds": round(wall, 2), "exact_match": em})
        return {"probe_exact_match": em}  # for the run's metrics log

    def report(self) -> dict[str, Any]:
        frames = sum(len(ft.frames) for ft in self.traces)
        return {
            "frames": frames,
            "traces": len(self.traces),
            "points": self.points,
            "seconds": round(self.used, 2),
            "skipped": self.skipped,
        }
