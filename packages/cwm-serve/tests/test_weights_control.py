"""A real `cwm serve --weights-control` joins a trainer's weights group over HTTP: the
trainer (this process, rank 0 of a gloo group of its own) broadcasts versions, the
server applies them on request, and its greedy replies are then the new weights'."""

from __future__ import annotations

import httpx
import pytest
import torch

from cwm.core.errors import CwmError
from cwm.core.model import build_model, flavor, greedy
from cwm.serve.engine.weight_sync import plan_buckets
from cwm.serve.testing import running_server
from cwm.serve.weights_client import ServerWeights

KEY = "sk-test-weights"
PROMPT = [5, 17, 300, 42, 9, 1200, 77]


@pytest.fixture(scope="module")
def server():
    args = ("--random", "debug", "--weights-control", "--threads", "1", "--set", "kv_cache_mib=16")
    # --random debug: seed 0, as build_model(flavor("debug"), seed=0)
    with running_server(*args, env={"CWM_API_KEY": KEY}) as url:
        yield url.removesuffix("/v1")


def model_state(seed: int) -> dict[str, torch.Tensor]:
    return build_model(flavor("debug"), seed=seed).state_dict()


def expected(seed: int, n: int = 12) -> list[int]:
    """Greedy tokens of the debug flavor with seed ``seed`` (one thread, as the server)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model(flavor("debug"), seed=seed).eval()
        with torch.inference_mode():
            return greedy(model, torch.tensor([PROMPT]), n)[0]
    finally:
        torch.set_num_threads(threads)


def complete(server: str) -> dict:
    body = {"prompt": PROMPT, "max_tokens": 12, "temperature": 0, "ignore_eos": True}
    r = httpx.post(
        f"{server}/v1/completions",
        json=body,
        headers={"authorization": f"Bearer {KEY}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]


def test_a_server_joins_applies_versions_and_answers_with_them(server):
    assert complete(server)["token_ids"] == expected(0)
    with pytest.raises(CwmError, match="backend 'mpi': use gloo"):  # refused at once
        ServerWeights([server], model_state(1), api_key=KEY, backend="mpi", timeout_s=60)
    trainer = ServerWeights([server], model_state(1), api_key=KEY, bucket_mb=0.5, timeout_s=60)
    [status] = trainer.status()
    assert status["joined"] and status["rank"] == 1 and status["applied"] == 0

    _, size = trainer.publish(model_state(1), version=1)
    assert size == sum(t.numel() * t.element_size() for t in model_state(1).values())
    [answer] = trainer.apply(1)
    assert answer["version"] == 1 and answer["applied"]
    choice = complete(server)
    assert choice["token_ids"] == expected(1) != expected(0)
    assert choice["policy_version"] == 1 and set(choice["token_versions"]) == {1}

    # a version that never comes: a one-line 409, and the server goes on
    with pytest.raises(CwmError, match=r"409 no weights version >= 5 to apply: it did not"):
        trainer.apply(5, timeout_s=0.5)
    trainer.publish(model_state(0), version=2)
    trainer.publish(model_state(2), version=3)  # before any apply: 3 replaces 2, staged
    [answer] = trainer.apply(3)
    assert answer["version"] == 3 and answer["applied"]
    assert complete(server)["token_ids"] == expected(2)
    [status] = trainer.status()
    assert status["received"] == 3 and status["applied"] == 3 and status["error"] is None
    # a second group is refused while this one lasts
    with pytest.raises(CwmError, match="already joined a weights group"):
        ServerWeights([server], model_state(1), api_key=KEY, timeout_s=5)


def test_control_needs_the_key(server):
    r = httpx.get(f"{server}/control/weights", timeout=10)
    assert r.status_code == 401 and "no API key" in r.json()["error"]["message"]
    bad = httpx.post(
        f"{server}/control/weights/join",
        json={"host": "127.0.0.1", "port": 0, "rank": 1, "world_size": 2},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    assert bad.status_code == 400 and "port" in bad.json()["error"]["message"]


def test_control_is_off_unless_asked():
    with running_server("--random", "debug", "--threads", "1", "--set", "kv_cache_mib=16") as url:
        r = httpx.get(f"{url.removesuffix('/v1')}/control/weights", timeout=10)
        assert r.status_code == 404 and "--weights-control" in r.json()["error"]["message"]
        with pytest.raises(CwmError, match="404 weight control is off"):
            ServerWeights([url], model_state(0), timeout_s=5)


def test_buckets_respect_the_size_and_the_dtype():
    state = {
        "a": torch.zeros(300_000),
        "b": torch.zeros(10),
        "c": torch.zeros(300_000),
        "d": torch.zeros(5, dtype=torch.bfloat16),
    }
    assert plan_buckets(state, 2.0) == [["a", "b"], ["c"], ["d"]]
    assert plan_buckets(state, 100.0) == [["a", "b", "c"], ["d"]]


def test_control_beyond_loopback_needs_a_key(monkeypatch):
    from click.testing import CliRunner

    from cwm.core.cli import build_cli

    monkeypatch.delenv("CWM_API_KEY", raising=False)
    args = ["serve", "--random", "debug", "--host", "0.0.0.0", "--weights-control"]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "--weights-control on 0.0.0.0 lets any client replace the served weights" in result.output
    )
