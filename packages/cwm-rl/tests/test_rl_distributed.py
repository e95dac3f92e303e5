"""Scale-out on CPU: torchrun with one learner and two actor processes over gloo."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path

import pytest
from rl_run_fixtures import toml, write_rows

from cwm.core.errors import CwmError
from cwm.rl.run.launch import torchrun_command, torchrun_local
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
        assert actor["groups_started"] == 3  # its group of each step, none beyond the last
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


@pytest.mark.parametrize("tp", [1, 2], ids=["fsdp", "tensor-parallel"])
def test_two_learner_ranks_and_an_actor_train_and_rank_0_publishes(tmp_path, tp):
    rows = write_rows(tmp_path / "rows.jsonl")
    cfg = toml(tmp_path / "rl.toml", rows, tmp_path / "run", steps=2, groups_per_step=2)
    options = ("learners=2", f"learner_tp={tp}", "group_size=2", "checkpoint.interval=1")
    torchrun_local(cfg, 3, *options, worker=WORKER)
    run = tmp_path / "run"
    assert json.loads((run / "actor-2.json").read_text())["versions"] == [1, 2]
    steps = _steps(run)
    assert [r["step"] for r in steps] == [1, 2]
    assert all(sum(r["staleness"].values()) == 4 for r in steps)  # every sample trained
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["learners"], summary["learner_tp"], summary["actors"]) == (2, tp, 1)
    assert summary["steps"] == 2
    # both learner ranks save and load the checkpoint: a longer run goes on from it
    torchrun_local(cfg, 3, *options, "steps=3", worker=WORKER)
    assert json.loads((run / "actor-2.json").read_text())["versions"] == [2, 3]
    assert [r["step"] for r in _steps(run)] == [1, 2, 3]
    assert json.loads((run / "summary.json").read_text())["resumed_from"] == 2


def _kill_after_checkpoint(cfg: Path, run: Path, n: int, step: int, *overrides: str) -> None:
    """Start the run on ``n`` processes, SIGKILL them all once checkpoint ``step`` is saved."""
    cmd, env = torchrun_command(cfg, n, *overrides, worker=WORKER)
    saved = run / "checkpoints" / f"step-{step:06d}"
    with (run.parent / "killed.log").open("w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 240
        while not saved.is_dir() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        # torchrun starts its workers in sessions of their own: find them by their command line
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            with contextlib.suppress(OSError):
                if str(cfg).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
        proc.wait()
    assert saved.is_dir(), (run.parent / "killed.log").read_text()[-3000:]
    assert not (run / "summary.json").exists()  # killed before its end


def _saved_actor_rows(checkpoint: Path, actors: int) -> set[str]:
    """The rows (as metrics name them) of the groups the actors held, finished or in
    flight, in a saved train state of a run with one learner and ``actors`` actors."""
    import torch.distributed.checkpoint as dcp

    state = {"train": {"json": "", "rng": ""}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DCP warns when it loads in a single process
        dcp.load(state, checkpoint_id=str(checkpoint), no_dist=True)
    held = set()
    for rank, actor in json.loads(state["train"]["json"])["actors"].items():
        for group in json.loads(actor["buffer"]):
            held.add(f"{group['spec']['task']}:{group['row_id']}")
        for spec in json.loads(actor["in_flight"]):  # row: an index into this actor's share
            held.add(f"{spec['task']}:r{int(rank) - 1 + spec['row'] * actors}")
    return held


def _steps(run: Path) -> list[dict]:
    return [r for r in read_metrics(run) if "reward" in r]


def test_sigkill_and_resume_end_with_the_parameters_of_an_uninterrupted_run(tmp_path):
    """At max_lag 0 the distributed schedule is deterministic: the resumed run trains the
    same groups at the same steps and ends with the same parameters."""
    rows = write_rows(tmp_path / "rows.jsonl", sleep=0.2)  # time to kill it after step 2
    top = {"steps": 4, "max_lag": 0, "overlap": "ticks", "groups_per_step": 2, "group_size": 2}
    whole = toml(tmp_path / "whole.toml", rows, tmp_path / "whole", **top)
    torchrun_local(whole, 2, "checkpoint.interval=2", worker=WORKER)
    cfg = toml(tmp_path / "rl.toml", rows, tmp_path / "killed", **top)
    _kill_after_checkpoint(cfg, tmp_path / "killed", 2, 2, "checkpoint.interval=2")
    torchrun_local(cfg, 2, "checkpoint.interval=2", worker=WORKER)
    summary = json.loads((tmp_path / "killed" / "summary.json").read_text())
    expected = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert summary["resumed_from"] == 2 and summary["steps"] == 4
    assert summary["param_hash"] == expected["param_hash"]
    killed, uninterrupted = _steps(tmp_path / "killed"), _steps(tmp_path / "whole")
    assert [r["step"] for r in killed] == [1, 2, 3, 4]
    assert [r["groups"] for r in killed] == [r["groups"] for r in uninterrupted]
    actor = json.loads((tmp_path / "killed" / "actor-1.json").read_text())
    assert actor["versions"] == [2, 3, 4]  # the resumed actor starts from the saved version


def test_a_resumed_async_run_reissues_its_groups_in_flight_and_trains_no_row_twice(tmp_path):
    rows = write_rows(tmp_path / "rows.jsonl", n=40, sleep=0.2)
    # at max_lag 2 each actor starts 3 groups at once, so it holds one when step 2 is saved
    top = {"steps": 5, "max_lag": 2, "groups_per_step": 2, "group_size": 2}
    cfg = toml(tmp_path / "rl.toml", rows, tmp_path / "run", **top)
    saves = ("checkpoint.interval=2", "checkpoint.keep=3")  # 2, 4 and 5: keep step 2's
    _kill_after_checkpoint(cfg, tmp_path / "run", 3, 2, *saves)
    torchrun_local(cfg, 3, *saves, worker=WORKER)
    steps = _steps(tmp_path / "run")
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5]
    groups = [g for r in steps for g in r["groups"]]
    assert len(groups) == 10 and len(set(groups)) == 10  # 40 rows: none drawn twice yet
    # what the actors held at the kill (finished, in flight) is trained after the resume,
    # within the lag bound
    held = _saved_actor_rows(tmp_path / "run" / "checkpoints" / "step-000002", actors=2)
    assert len(held) >= 2 and held <= {g for r in steps[2:] for g in r["groups"]}
    # the actors' states are saved by rank: a resume needs as many actors
    with pytest.raises(CwmError, match="saved by a run of 2 actors, this one has 1"):
        torchrun_local(cfg, 2, "steps=6", worker=WORKER)


def test_a_failed_run_says_why(tmp_path):
    rows = write_rows(tmp_path / "rows.jsonl")
    cfg = toml(tmp_path / "rl.toml", rows, tmp_path / "run", steps=1, groups_per_step=3)
    with pytest.raises(CwmError, match="2 actors must divide groups_per_step=3"):
        torchrun_local(cfg, 3, worker=WORKER)
