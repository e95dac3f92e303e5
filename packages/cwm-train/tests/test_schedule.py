"""The learning-rate schedule: step-based, or on the share of a time budget spent."""

import math
import time
from itertools import pairwise

import pytest
from test_trainer import config, data  # noqa: F401 (the module's dataset fixture)

from cwm.train.config import OptimConfig
from cwm.train.data.loader import Loader
from cwm.train.metrics import read_metrics
from cwm.train.optim import lr_at
from cwm.train.trainer import Trainer

OPTIM = OptimConfig(lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)


def test_step_schedule_warms_up_then_decays_to_the_floor():
    lrs = [lr_at(s, 100, OPTIM) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in pairwise(lrs[9:]))
    assert lrs[-1] == pytest.approx(1e-4)


def test_time_schedule_is_smooth_and_monotone_when_the_step_time_changes():
    # 300 steps whose time swings tenfold (a machine that gets busy, then quiet)
    times = [0.1] * 100 + [1.0] * 50 + [0.1] * 150
    budget = sum(times)
    spent, lrs = 0.0, []
    for step, seconds in enumerate(times):
        lrs.append(lr_at(step, 10**6, OPTIM, spent=spent / budget))
        spent += seconds
    after = lrs[OPTIM.warmup_steps - 1 :]
    assert all(a >= b for a, b in pairwise(after))  # never rises after warmup
    # one step moves the LR by at most what its share of the budget allows
    largest = max(times) / budget * math.pi / 2 * OPTIM.lr * (1 - OPTIM.min_lr_ratio)
    assert max(a - b for a, b in pairwise(after)) <= largest + 1e-12
    assert lrs[-1] == pytest.approx(OPTIM.lr * OPTIM.min_lr_ratio, rel=0.05)


def test_a_time_budgeted_run_decays_on_time_and_ends_within_its_budget(
    tmp_path,
    data,  # noqa: F811
    monkeypatch,
):
    served = Loader.next_batch

    def slower_after_4(self):  # the machine gets busy part-way through
        if self._start["window"] or self._taken >= 4:
            time.sleep(0.1)
        return served(self)

    monkeypatch.setattr(Loader, "next_batch", slower_after_4)
    cfg = config(
        tmp_path / "run", data, steps=10_000, time_budget=8.0, data={"seq_len": 32, "batch_size": 2}
    )
    trainer = Trainer(cfg)
    summary = trainer.run()
    records = [r for r in read_metrics(tmp_path / "run") if "lr" in r]
    lrs = [r["lr"] for r in records]
    after = lrs[cfg.optim.warmup_steps - 1 :]
    assert summary["steps"] > 8 and all(a >= b for a, b in pairwise(after))
    assert lrs[-1] < 0.25 * cfg.optim.lr  # the decay reached its end with the budget
