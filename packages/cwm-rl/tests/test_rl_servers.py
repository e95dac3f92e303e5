"""``cwm rl`` with two real ``cwm serve --weights-control`` processes as its actors: the run
publishes every version to both, their tokens carry the versions that sampled them, the
lag bound holds, and afterwards both serve exactly the learner's weights."""

from __future__ import annotations

import json
import urllib.request

import pytest
import torch
from rl_run_fixtures import install, toml, write_rows

from cwm.core.config import ConfigError
from cwm.core.model import greedy
from cwm.rl.run.config import load_rl_config
from cwm.rl.run.loop import RLRun
from cwm.serve.testing import running_server
from cwm.train.metrics import read_metrics

pytest.importorskip("openai")

KEY = "sk-test-rl-servers"
PROMPT = [5, 17, 300, 42, 9, 1200, 77]
SERVE = ("--random", "debug", "--weights-control", "--threads", "1", "--set", "kv_cache_mib=16")


@pytest.fixture(scope="module")
def servers():
    # --random debug is seed 0; the run below starts from seed 5, so only what the run
    # publishes can make the servers answer as its learner
    with (
        running_server(*SERVE, env={"CWM_API_KEY": KEY}) as a,
        running_server(*SERVE, env={"CWM_API_KEY": KEY}) as b,
    ):
        yield [a, b]


def greedy_reply(url: str) -> list[int]:
    body = {"prompt": PROMPT, "max_tokens": 12, "temperature": 0, "ignore_eos": True}
    request = urllib.request.Request(
        f"{url}/completions",
        data=json.dumps(body).encode(),
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["choices"][0]["token_ids"]


def test_a_run_on_two_servers(servers, tmp_path, monkeypatch):
    install()
    monkeypatch.setenv("CWM_API_KEY", KEY)
    rows = write_rows(tmp_path / "rows.jsonl", sleep=0.05)
    path = toml(tmp_path / "rl.toml", rows, tmp_path / "run", seed=5, steps=4, max_lag=1)
    cfg = load_rl_config(
        path, ["groups_per_step=2", "group_size=2", f"servers.urls={json.dumps(servers)}"]
    )
    run = RLRun(cfg, progress=False)
    summary = run.run()

    assert summary["steps"] == 4 and summary["samples"] == 4 * 2 * 2
    steps = [r for r in read_metrics(tmp_path / "run") if "reward" in r]
    assert all(int(lag) <= 1 for r in steps for lag in r["staleness"])
    # the first batch was sampled before any update: the servers' logprobs are the learner's
    # own (the run published its starting weights over the servers' seed-0 ones)
    assert steps[0]["staleness"] == {"0": 4} and abs(steps[0]["is_weight_max"] - 1) < 1e-3
    assert summary["dropped_stale"] == 0  # admission kept every group within the lag
    assert [s["applied"] for s in summary["servers"]] == [4, 4]
    assert all(s["requests"] > 0 for s in summary["servers"])  # both generated

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the servers compute
    try:
        with torch.inference_mode():
            learner = greedy(run.learner.model.eval(), torch.tensor([PROMPT]), 12)[0]
    finally:
        torch.set_num_threads(threads)
    assert [greedy_reply(url) for url in servers] == [learner, learner]


def test_what_servers_cannot_do_is_said_at_load(tmp_path):
    rows = write_rows(tmp_path / "rows.jsonl")
    path = toml(tmp_path / "rl.toml", rows, tmp_path / "run")
    urls = 'servers.urls=["http://127.0.0.1:9/v1"]'
    with pytest.raises(ConfigError, match='use overlap = "free"'):
        load_rl_config(path, [urls, "overlap=ticks"])
    with pytest.raises(ConfigError, match=r"engine\.recompute_kv = false"):
        load_rl_config(path, [urls, "engine.recompute_kv=true"])
    with pytest.raises(ConfigError, match=r"servers\.backend"):
        load_rl_config(path, [urls, "servers.backend=mpi"])
