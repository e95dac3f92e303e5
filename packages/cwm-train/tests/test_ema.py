"""The moving average of the weights (``ema_decay``): the run ends on it, and resumes it."""

import shutil
from pathlib import Path

import pytest
import torch
from test_trainer import config, data  # noqa: F401 (a fixture)

from cwm.core.checkpoint import load_checkpoint
from cwm.core.checkpoint.dcp_io import read_dcp
from cwm.core.config import ConfigError
from cwm.core.errors import CwmError
from cwm.train.trainer import Trainer


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_the_run_ends_on_the_moving_average_of_its_weights(tmp_path, data):  # noqa: F811
    trainer = Trainer(config(tmp_path / "run", data, steps=12, ema_decay=0.5))
    expected = weights(trainer.model)
    last = {}

    def fold(step, counters):  # the weights optimizer step `step - 1` left
        last.update(weights(trainer.model))
        share = 1 - min(0.5, step / (9 + step))  # the decay ramps up to 0.5 at step 9
        for name, w in last.items():
            expected[name] += share * (w - expected[name])

    summary = trainer.run(on_step=fold)
    final = weights(trainer.model)
    for name, w in final.items():
        torch.testing.assert_close(w, expected[name])
    assert any(not torch.equal(final[n], last[n]) for n in final)  # not the last weights
    # the final checkpoint serves the average and keeps the last weights to resume from
    path = Path(summary["checkpoint"])
    saved = dict(load_checkpoint(path).named_parameters())
    assert all(torch.equal(saved[n], w) for n, w in final.items())
    kept = read_dcp(path, prefix="last.")
    assert all(torch.equal(kept[n], w) for n, w in last.items())
    extended = Trainer(config(tmp_path / "run", data, steps=14, ema_decay=0.5))
    extended._load(path)
    assert all(torch.equal(w, last[n]) for n, w in weights(extended.model).items())


def test_a_resumed_run_continues_the_same_average(tmp_path, data):  # noqa: F811
    checkpoint = {"interval": 4, "keep": 5}
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    one = Trainer(config(straight, data, ema_decay=0.9, checkpoint=checkpoint))
    one.run()
    (crashed / "checkpoints").mkdir(parents=True)  # killed after step 4's checkpoint
    shutil.copytree(
        straight / "checkpoints" / "step-000004", crashed / "checkpoints" / "step-000004"
    )
    two = Trainer(config(crashed, data, ema_decay=0.9, checkpoint=checkpoint))
    two.run()
    a, b = weights(one.model), weights(two.model)
    assert all(torch.equal(a[n], b[n]) for n in a)  # exactly


def test_bad_averages_are_one_clear_error(tmp_path, data):  # noqa: F811
    with pytest.raises(ConfigError, match="ema_decay"):
        config(tmp_path / "run", data, ema_decay=1.0)
    Trainer(config(tmp_path / "plain", data, steps=2)).run()  # saved without an average
    with pytest.raises(CwmError, match="without a weight average"):
        Trainer(config(tmp_path / "plain", data, steps=4, ema_decay=0.9)).run()
