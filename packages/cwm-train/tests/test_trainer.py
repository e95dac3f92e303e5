"""The training loop on CPU: it learns, checkpoints atomically and resumes exactly."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_fixtures import collatz_dataset, write_documents, write_toml

from cwm.core.checkpoint import load_checkpoint
from cwm.core.config import load_config, merge
from cwm.core.errors import CwmError
from cwm.train.checkpoint import Checkpointer
from cwm.train.config import TrainConfig
from cwm.train.metrics import read_metrics
from cwm.train.trainer import Trainer


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return collatz_dataset(root / "collatz"), write_documents(root / "docs.jsonl")


def config(run_dir: Path, paths, **changes) -> TrainConfig:
    base = {
        "run_dir": str(run_dir),
        "steps": 8,
        "model": {"flavor": "debug"},
        "data": {
            "sources": [{"path": str(paths[0]), "weight": 2}, {"path": str(paths[1])}],
            "eval_sources": [{"path": str(paths[0]), "split": "heldout"}],
            "seq_len": 128,
            "batch_size": 4,
        },
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "metrics": {"progress": False, "eval_batches": 2},
    }
    return load_config(TrainConfig, preset=merge(base, changes))


def losses(run_dir: Path) -> list[float]:
    return [r["loss"] for r in read_metrics(run_dir) if "loss" in r]


def test_training_lowers_the_loss_and_saves_a_model_checkpoint(tmp_path, data):
    trainer = Trainer(config(tmp_path / "run", data, steps=20))
    summary = trainer.run()
    curve = losses(tmp_path / "run")
    assert len(curve) == 20 and sum(curve[-5:]) / 5 < sum(curve[:5]) / 5 - 1.0
    assert summary["eval_loss"] < curve[0] - 1.0
    # the run checkpoint is a native model checkpoint: cwm-core (and cwm serve) load it
    model = load_checkpoint(summary["checkpoint"])
    tokens = torch.arange(40)[None]
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), trainer.model(tokens), rtol=0, atol=0)
    record = read_metrics(tmp_path / "run")[0]
    assert {"lr", "grad_norm", "tokens_per_s", "mfu", "max_rss_gib"} <= set(record)
    assert 0 < record["mfu"] < 1


def test_a_copy_head_model_trains_on_its_mixed_distribution(tmp_path, data):
    trainer = Trainer(
        config(tmp_path / "run", data, steps=20, model={"flavor": "debug", "copy_dim": 16})
    )
    summary = trainer.run()
    curve = losses(tmp_path / "run")
    assert sum(curve[-5:]) / 5 < sum(curve[:5]) / 5 - 1.0
    # the loss is the forward's: the mean of -log p over a batch's targets
    batch = trainer.loader.next_batch()
    model = load_checkpoint(summary["checkpoint"])
    with torch.no_grad():
        logp = model(batch.inputs, doc_ids=batch.doc_ids)
        targets = batch.labels != -100
        nll = -logp[targets].gather(1, batch.labels[targets][:, None]).sum()
        total = trainer.root(batch.inputs, batch.labels, batch.doc_ids)
    torch.testing.assert_close(total, nll, atol=1e-3, rtol=1e-5)


def test_the_run_logs_to_every_configured_backend(tmp_path, data):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    Trainer(config(run, data, steps=4, logging={"backends": ["jsonl", "tensorboard"]})).run()
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    logged = [(e.step, pytest.approx(e.value)) for e in events.Scalars("loss")]
    assert logged == [(r["step"], r["loss"]) for r in read_metrics(run) if "loss" in r]
    assert [e.step for e in events.Scalars("eval_loss")] == [4]
    assert "steps" in events.Tensors("config")[0].tensor_proto.string_val[0].decode()


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_resume_after_a_crash_reproduces_the_uninterrupted_curve_exactly(tmp_path, data, optimizer):
    """Also with Muon, whose momentum buffers (and AdamW's moments) the checkpoint keeps."""
    optim = {"lr": 3e-3, "warmup_steps": 2, "name": optimizer}
    straight = tmp_path / "straight"
    Trainer(config(straight, data, optim=optim, checkpoint={"interval": 4, "keep": 5})).run()
    # the same run, crashed after logging step 6: only the step-4 checkpoint was saved
    crashed = tmp_path / "crashed"
    (crashed / "checkpoints").mkdir(parents=True)
    shutil.copytree(
        straight / "checkpoints" / "step-000004", crashed / "checkpoints" / "step-000004"
    )
    lines = (straight / "metrics.jsonl").read_text().splitlines(keepends=True)
    (crashed / "metrics.jsonl").write_text("".join(lines[:6]))
    summary = Trainer(
        config(crashed, data, optim=optim, checkpoint={"interval": 4, "keep": 5})
    ).run()
    assert summary["steps"] == 8
    assert losses(crashed) == losses(straight)  # exactly, not approximately
    first = read_metrics(straight)
    assert [r["grad_norm"] for r in read_metrics(crashed) if "loss" in r] == [
        r["grad_norm"] for r in first if "loss" in r
    ]


def test_keeps_the_last_k_checkpoints(tmp_path, data):
    Trainer(config(tmp_path / "run", data, checkpoint={"interval": 2, "keep": 2})).run()
    assert Checkpointer(tmp_path / "run", keep=2).steps() == [6, 8]


def test_a_save_that_dies_half_way_leaves_the_previous_checkpoint(tmp_path, data, monkeypatch):
    trainer = Trainer(config(tmp_path / "run", data, steps=2))
    trainer.run()
    ckpt = trainer.checkpointer
    assert ckpt.steps() == [2]
    from cwm.core.checkpoint import dcp_io

    real_save = dcp_io.save

    def dies_after_writing(state, path, group=None):
        real_save(state, path, group)
        (path / ".metadata").unlink()  # as if killed before DCP finished
        raise KeyboardInterrupt

    monkeypatch.setattr(dcp_io, "save", dies_after_writing)
    with pytest.raises(KeyboardInterrupt):
        trainer.save(3, 8, {"tokens": 0, "seconds": 0.0, "wall": 0.0, "loss": 1.0})
    assert ckpt.steps() == [2] and ckpt.latest() == ckpt.path(2)
    assert (ckpt.dir / ".tmp-step-000003").is_dir()
    load_checkpoint(ckpt.latest())  # still loads
    monkeypatch.setattr(dcp_io, "save", real_save)
    trainer.save(3, 8, {"tokens": 0, "seconds": 0.0, "wall": 0.0, "loss": 1.0})
    assert ckpt.steps() == [2, 3] and not list(ckpt.dir.glob(".tmp-*"))


def test_a_killed_run_resumes_from_its_last_complete_checkpoint(tmp_path, data):
    run = tmp_path / "run"
    cfg = config(run, data, steps=16, checkpoint={"interval": 1, "keep": 3})
    toml = write_toml(tmp_path / "run.toml", cfg)
    cmd = [sys.executable, "-m", "cwm.train", "--config", str(toml), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = Checkpointer(run, keep=3)
    deadline = time.monotonic() + 120
    while len(ckpt.steps()) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # mid-step or mid-save, whichever it is doing
    proc.wait()
    assert ckpt.latest() is not None, proc.stderr.read().decode() if proc.stderr else ""
    load_checkpoint(ckpt.latest())
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == list(range(1, 17))


def test_gradient_accumulation_matches_one_big_batch(tmp_path, data):
    one = Trainer(config(tmp_path / "one", data, steps=3)).run()
    two = Trainer(config(tmp_path / "two", data, steps=3, grad_accum=2)).run()
    assert losses(tmp_path / "two") == pytest.approx(losses(tmp_path / "one"), rel=1e-5)
    assert one["tokens"] == two["tokens"]


def test_bucketed_training_and_activation_checkpointing(tmp_path, data):
    cfg = config(
        tmp_path / "run",
        data,
        steps=4,
        data={"mode": "bucket", "batch_tokens": 512},
        parallel={"activation_checkpointing": True},
        loss_chunk=32,
    )
    summary = Trainer(cfg).run()
    assert summary["steps"] == 4 and summary["padding_fraction"] < 0.2


def test_a_diverging_run_stops_with_a_clear_error(tmp_path, data):
    with pytest.raises(CwmError, match=r"lower optim\.lr"):
        Trainer(
            config(tmp_path / "run", data, optim={"lr": 1e9, "warmup_steps": 0, "grad_clip": 0})
        ).run()


def test_resuming_from_a_truncated_checkpoint_is_one_clear_error(tmp_path, data):
    run = tmp_path / "run"
    Trainer(config(run, data, steps=2)).run()
    ckpt = Checkpointer(run, keep=2).latest()
    assert ckpt is not None
    [shard] = ckpt.glob("*.distcp")
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(CwmError, match=r"__0_0\.distcp is 1,000 bytes.*truncated"):
        Trainer(config(run, data, steps=4)).run()
