"""Scale-out on CPU: torchrun with one learner and two actor processes over gloo."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from rl_run_fixtures import toml, write_rows

from cwm.train.metrics import read_metrics


def torchrun(cfg: Path, processes: int, *overrides: str) -> None:
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={processes}",
        f"--master-port={port}",
        str(Path(__file__).parent / "rl_worker.py"),
        "rl",
        "--config",
        str(cfg),
        "--no-progress",
    ] + [a for o in overrides for a in ("--set", o)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


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
    torchrun(cfg, 3)
    run = tmp_path / "run"
    for rank in (1, 2):
        assert json.loads((run / f"actor-{rank}.json").read_text())["versions"] == [1, 2, 3]
    steps = [r for r in read_metrics(run) if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all(r["staleness_max"] <= 1 and r["publish_bytes"] > 0 for r in steps)
    assert all(sum(r["staleness"].values()) == 4 for r in steps)  # 2 groups of 2 per step
    rows_seen = [g for r in steps for g in r["groups"]]
    assert len(set(rows_seen)) == len(rows_seen)  # the actors split the rows
    summary = json.loads((run / "summary.json").read_text())
    assert summary["actors"] == 2 and summary["steps"] == 3


def test_two_learner_ranks_and_an_actor_train_and_rank_0_publishes(tmp_path):
    rows = write_rows(tmp_path / "rows.jsonl")
    cfg = toml(tmp_path / "rl.toml", rows, tmp_path / "run", steps=2, groups_per_step=2)
    torchrun(cfg, 3, "learners=2", "group_size=2")
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
