"""The RL run on a real environment, engine and learner: the lag bound, sync parity, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rl_run_fixtures import install, toml, write_rows

from cwm.core.errors import CwmError
from cwm.rl.run.config import load_rl_config
from cwm.rl.run.loop import RLRun
from cwm.train.metrics import read_metrics

# the deterministic schedule: a run is a function of its config (free-running is timing's)
SMALL = {"groups_per_step": 2, "group_size": 2, "overlap": "ticks"}


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    install()
    return write_rows(tmp_path_factory.mktemp("rows") / "rows.jsonl")


def run(tmp_path, rows, name, overrides=(), **top):
    path = toml(tmp_path / f"{name}.toml", rows, tmp_path / name, **(SMALL | top))
    cfg = load_rl_config(path, overrides)
    summary = RLRun(cfg, progress=False).run()
    return summary, [r for r in read_metrics(tmp_path / name) if "reward" in r]


def test_async_at_lag_zero_equals_sync_bit_for_bit(tmp_path, rows):
    sync, sync_steps = run(tmp_path, rows, "sync", mode="sync", steps=3)
    lag0, lag0_steps = run(tmp_path, rows, "lag0", mode="async", max_lag=0, steps=3)
    assert sync["param_hash"] == lag0["param_hash"]
    assert [r["groups"] for r in sync_steps] == [r["groups"] for r in lag0_steps]
    assert [r["loss"] for r in sync_steps] == [r["loss"] for r in lag0_steps]
    assert all(r["staleness"] == {"0": 4} for r in lag0_steps)
    lag1, _ = run(tmp_path, rows, "lag1", mode="async", max_lag=1, steps=3)
    assert lag1["param_hash"] != sync["param_hash"]  # off-policy samples: another run


def test_a_copy_head_policy_scores_its_samples_as_the_engine_sampled_them(tmp_path, rows):
    """The learner's log-probabilities of a copy-head model (its forward's mixture) are the
    engine's (which points over each sequence's own keys): on-policy weights are 1."""
    _, steps = run(tmp_path, rows, "copy", ["model.copy_dim=16"], mode="sync", steps=2)
    assert len(steps) == 2
    assert all(
        abs(r["is_weight_max"] - 1) < 1e-4 and abs(r["is_weight_mean"] - 1) < 1e-5 for r in steps
    )


def test_the_lag_bound_holds_and_samples_span_versions(tmp_path, rows):
    summary, steps = run(tmp_path, rows, "lag2", max_lag=2, steps=6)
    assert summary["dropped_stale"] == 0 and summary["samples"] == 6 * 4
    assert max(r["staleness_max"] for r in steps) == 2  # the bound is reached, never passed
    assert all(int(k) <= 2 for r in steps for k in r["staleness"])
    assert max(r["versions_per_sample"] for r in steps) > 1  # episodes spanned an update
    for r in steps:
        for key in (
            "reward/low",
            "publish_bytes",
            "trainer_idle_frac",
            "generated_tokens_per_s",
            "response_len_p95",
        ):
            assert key in r
    # the learner's statistics, on the steps where a group's rewards differed (a step of
    # zero-variance groups only trains no token)
    trained = [r for r in steps if r["trained_tokens"]]
    untrained = [r for r in steps if not r["trained_tokens"]]
    assert trained and all(r["zero_var_groups"] == SMALL["groups_per_step"] for r in untrained)
    for r in trained:
        for key in ("entropy", "clip_low_frac", "is_ess"):
            assert key in r
    groups = [g for r in steps for g in r["groups"]]
    assert len(groups) == 12 and len(set(groups)) == 12  # 16 rows: no prompt twice yet


def test_sigkill_and_resume_end_with_the_parameters_of_an_uninterrupted_run(tmp_path, rows):
    cfg_path = toml(tmp_path / "rl.toml", rows, tmp_path / "killed", **SMALL)
    overrides = ["max_lag=1", "steps=4", "checkpoint.interval=2"]
    whole, whole_steps = run(tmp_path, rows, "whole", overrides)
    worker = [
        sys.executable,
        str(Path(__file__).parent / "rl_worker.py"),
        "rl",
        "--config",
        str(cfg_path),
        "--no-progress",
    ] + [a for o in overrides for a in ("--set", o)]
    proc = subprocess.Popen(worker, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = tmp_path / "killed" / "checkpoints" / "step-000002"
    deadline = time.time() + 240
    while not first.is_dir() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert first.is_dir(), (
        proc.stdout.read().decode()[-2000:] if proc.poll() is not None else "slow"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(worker, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    resumed = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert resumed["param_hash"] == whole["param_hash"]
    killed_steps = [r for r in read_metrics(tmp_path / "killed") if "reward" in r]
    assert [r["step"] for r in killed_steps] == [1, 2, 3, 4]
    assert [r["groups"] for r in killed_steps] == [r["groups"] for r in whole_steps]


@pytest.mark.parametrize("loss", ["ppo", "reinforce"])
def test_rl_raises_the_reward_of_a_learnable_task(tmp_path, loss):
    # a 64-token vocabulary: the reward (the share of tokens below 32) is learnable in seconds;
    # ticks make the run a function of its config (free-running, 10 steps once rose by < 0.1)
    install()
    rows = write_rows(tmp_path / "rows.jsonl", max_turns=1, vocab=64)
    overrides = [
        "optim.lr=1e-2",
        "sampling.max_tokens=8",
        "model.vocab_size=64",
        f"loss={loss}",
    ]
    path = toml(
        tmp_path / "rl.toml",
        rows,
        tmp_path / "run",
        steps=20,
        max_lag=1,
        groups_per_step=4,
        group_size=4,
        overlap="ticks",
    )
    text = path.read_text().replace(
        'reward = "low-fraction"', 'reward = "low-fraction"\nreward_options = { below = 32 }'
    )
    path.write_text(text)
    RLRun(load_rl_config(path, overrides), progress=False).run()
    rewards = [r["reward"] for r in read_metrics(tmp_path / "run") if "reward" in r]
    # seeds 0-7 of this run rise by 0.36-0.49 (ppo) and 0.40-0.49 (reinforce)
    assert sum(rewards[-5:]) / 5 > sum(rewards[:5]) / 5 + 0.2, rewards


def test_a_mixture_of_tasks_with_their_own_weights_and_losses(tmp_path, rows):
    path = toml(tmp_path / "mix.toml", rows, tmp_path / "mix", steps=2, **SMALL)
    path.write_text(
        path.read_text()
        + f'[[tasks]]\nname = "other"\nenvironment = "low-tokens"\ndata = "{rows}"\n'
        'reward = "low-fraction"\nweight = 1.0\nloss = "reinforce"\nloss_options = { tis_cap = 1.5 }\n'
    )
    RLRun(load_rl_config(path), progress=False).run()
    steps = [r for r in read_metrics(tmp_path / "mix") if "reward" in r]
    tasks = {g.split(":")[0] for r in steps for g in r["groups"]}
    assert tasks == {"low", "other"} and any("reward/other" in r for r in steps)
    bad = path.read_text().replace("tis_cap = 1.5", 'aggregation = "dr-grpo"')
    path.write_text(bad)
    with pytest.raises(
        CwmError, match=r"task 'other': loss_options\.aggregation must be the run's"
    ):
        RLRun(load_rl_config(path), progress=False)


def test_after_the_first_batch_a_waiting_learner_leaves_the_actor_all_the_lag_allows(
    tmp_path, rows, monkeypatch
):
    seen: list[tuple[int, int]] = []  # (learner version, groups in flight) at each start
    issue = RLRun._issue

    def counting(self, spec):
        issue(self, spec)
        seen.append((self.learner.version, len(self.actor.groups)))

    monkeypatch.setattr(RLRun, "_issue", counting)
    run(tmp_path, rows, "lag1", max_lag=1, steps=4)
    b = SMALL["groups_per_step"]
    # the first batch alone, so the learner starts soonest; later, two steps' groups
    assert max(n for v, n in seen if v == 0) == b
    assert max(n for _, n in seen) == 2 * b
    assert len(seen) == 4 * b  # none beyond the run's last batch


def test_muon_trains_and_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path, rows):
    """cwm-train's Muon (on the blocks' matrices, AdamW on the rest) as the learner's
    optimizer: its state and AdamW's are both checkpointed, so resuming changes nothing."""
    muon = ["optim.name=muon", "max_lag=0", "checkpoint.interval=2"]
    whole, _ = run(tmp_path, rows, "whole", [*muon, "steps=4"])
    run(tmp_path, rows, "parts", [*muon, "steps=2"])
    resumed, steps = run(tmp_path, rows, "parts", [*muon, "steps=4"])
    assert [r["step"] for r in steps] == [1, 2, 3, 4]  # the second run went on from 2
    assert resumed["param_hash"] == whole["param_hash"]
    adamw, _ = run(tmp_path, rows, "adamw", ["max_lag=0", "checkpoint.interval=2", "steps=4"])
    assert adamw["param_hash"] != whole["param_hash"]
