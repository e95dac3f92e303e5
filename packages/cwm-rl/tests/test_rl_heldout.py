"""An RL run on the trace-prediction environment with a held-out evaluation and loggers."""

from __future__ import annotations

import json
from collections import Counter

from rl_fixtures import TRACE_ROWS, write_rows

from cwm.rl.run.config import load_rl_config
from cwm.rl.run.loop import RLRun
from cwm.rl.run.plot import plot_run, rolling_mean
from cwm.train.metrics import read_metrics


def config(tmp_path, name, heldout: bool):
    rows = write_rows(tmp_path / "traces.jsonl", TRACE_ROWS)
    text = f"""
run_dir = "{tmp_path / name}"
steps = 2
groups_per_step = 2
group_size = 2
[sampling]
max_tokens = 24
[logging]
backends = ["jsonl", "tensorboard"]
[[tasks]]
name = "trace"
environment = "trace-prediction"
env_options = {{ mode = "next-frame" }}
data = "{rows}"
reward = "frames-exact"
"""
    if heldout:
        text += f"""
[heldout]
task = "trace-prediction-next-frame"
eval_every = 1
limit = 1
samples = 2
set = ["data={rows}", "sampling.max_tokens=24", "sampling.temperature=1.0"]
"""
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return load_rl_config(path)


def test_heldout_reward_before_during_and_after_without_changing_the_training(tmp_path):
    summary = RLRun(config(tmp_path, "with", heldout=True), progress=False).run()
    run = tmp_path / "with"
    heldout = summary["heldout_reward"]
    assert heldout["task"] == "trace-prediction-next-frame"
    assert list(heldout["by_step"]) == ["0", "1", "2"]
    assert heldout["before"] == heldout["by_step"]["0"]
    assert heldout["after"] == heldout["by_step"]["2"]
    assert json.loads((run / "summary.json").read_text())["heldout_reward"] == heldout
    for step, reward in heldout["by_step"].items():
        scored = json.loads(
            (run / "heldout" / f"step-{int(step):06d}" / "summary.json").read_text()
        )
        assert scored["score"] == reward and 0.0 <= reward <= 1.0
        assert scored["rows"] == 7  # limit 1: the first row, one episode per frame of its trace
        # two samples of each row at the policy's temperature, the row's reward their mean
        lines = (run / "heldout" / f"step-{int(step):06d}" / "samples.jsonl").read_text()
        per_row = Counter(json.loads(line)["row_id"] for line in lines.splitlines())
        assert len(per_row) == 7 and set(per_row.values()) == {2}
    logged = [r for r in read_metrics(run) if "heldout_reward" in r]
    assert [(r["step"], r["heldout_reward"]) for r in logged] == list(
        (int(s), v) for s, v in heldout["by_step"].items()
    )
    steps = [r for r in read_metrics(run) if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2] and "reward/trace" in steps[0]
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    # `cwm rl plot`: a held-out panel joins reward, staleness and throughput
    png = plot_run(run, run / "rl.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the evaluations run on an engine of their own: the training is the same without them
    plain = RLRun(config(tmp_path, "without", heldout=False), progress=False).run()
    assert plain["param_hash"] == summary["param_hash"] and "heldout_reward" not in plain


def test_rolling_mean_skips_steps_without_the_task():
    assert rolling_mean([1.0, None, 3.0, 5.0], 2) == [1.0, 1.0, 3.0, 4.0]
    assert rolling_mean([None, None], 3) == [None, None]
