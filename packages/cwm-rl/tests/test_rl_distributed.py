"""Scale-out on CPU: torchrun with one learner and two actor processes over gloo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rl_run_fixtures import toml, write_rows

from cwm.core.errors import CwmError
from cwm.rl.run.launch import torchrun_local
from cwm.train.metrics import read_metrics

WORKER = Path(__file__).parent / "rl_worker.py"  # cwm with the tests' environment installed


def test_one_learner_and_two_actors_train_and_every_actor_gets_every_version(tmp_path):
    rows = write_rows(tmp_path / "rows.jsonl")
    cfg = toml(
        tmp_path / "rl.toml",
        rows,
        tmp_path / "run",
        steps=3,
        max_lag=1,
        groups_per_step=2,
        group_size=2,
        weight_bucket_mb=1.0,
    )
    torchrun_local(cfg, 3, worker=WORKER)
    run = tmp_path / "run"
    for rank in (1, 2):
        actor = json.loads((run / f"actor-{rank}.json").read_text())
        assert actor["versions"] == [1, 2, 3]
        # its generation, as the embedded run's summary defines it
        assert actor["generated_tokens"] > 0
        assert 0 < actor["busy_seconds"] <= actor["wall_seconds"]
        assert actor["generated_tokens_per_s"] == actor["generated_tokens"] / actor["wall_seconds"]
        assert actor["actor_busy_frac"] == actor["busy_seconds"] / actor["wall_seconds"]
    steps = [r for r in read_metrics(run) if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all(r["staleness_max"] <= 1 and r["publish_bytes"] > 0 for r in steps)
    assert all(sum(r["staleness"].values()) == 4 for r in steps)  # 2 groups of 2 per step
    rows_seen = [g for r in steps for g in r["groups"]]
    assert len(set(rows_seen)) == len(rows_seen)  # the actors split the rows
    summary = json.loads((run / "summary.json").read_text())
    assert summary["actors"] == 2 and summary["steps"] == 3
    assert 0 <= summary["trainer_idle_frac"] < 1 and summary["publish_seconds"] > 0


def test_two_learner_ranks_and_an_actor_train_and_rank_0_publishes(tmp_path):
    rows = write_rows(tmp_path / "rows.jsonl")
    cfg = toml(tmp_path / "rl.toml", rows, tmp_path / "run", steps=2, groups_per_step=2)
    torchrun_local(cfg, 3, "learners=2", "group_size=2", worker=WORKER)
    run = tmp_path / "run"
    assert json.loads((run / "actor-2.json").read_text())["versions"] == [1, 2]
    steps = [r for r in read_metrics(run) if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert all(sum(r["staleness"].values()) == 4 for r in steps)  # every sample trained
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["learners"], summary["actors"], summary["steps"]) == (2, 1, 2)


def test_buckets_respect_the_size_and_the_dtype():
    import torch

    from cwm.rl.run.weight_sync import plan_buckets

    state = {
        "a": torch.zeros(300_000),
        "b": torch.zeros(10),
        "c": torch.zeros(300_000),
        "d": torch.zeros(5, dtype=torch.bfloat16),
    }
    assert plan_buckets(state, 2.0) == [["a", "b"], ["c"], ["d"]]
    assert plan_buckets(state, 100.0) == [["a", "b", "c"], ["d"]]


def test_a_failed_run_says_why(tmp_path):
    rows = write_rows(tmp_path / "rows.jsonl")
    cfg = toml(tmp_path / "rl.toml", rows, tmp_path / "run", steps=1, groups_per_step=3)
    with pytest.raises(CwmError, match="2 actors must divide groups_per_step=3"):
        torchrun_local(cfg, 3, worker=WORKER)
