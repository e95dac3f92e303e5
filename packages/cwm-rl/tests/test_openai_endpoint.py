"""``cwm eval --endpoint`` and ``cwm forage``'s openai policy against a real ``cwm serve
--api-key`` on 127.0.0.1: a wrong key or an unserved ``--model`` is one line, never a
traceback or a silent fallback to another model."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from rl_fixtures import OUTPUT_ROWS, write_rows

from cwm.core.cli import build_cli
from cwm.core.errors import CwmError
from cwm.data.forager.policies import OpenAIPolicy as ForagePolicy
from cwm.serve.testing import running_server

pytest.importorskip("openai")

KEY = "sk-test-endpoint"


@pytest.fixture(scope="module")
def server():
    with running_server(
        "--random",
        "debug",
        "--model-name",
        "served",
        "--threads",
        "1",
        "--api-key",
        KEY,
        "--weights-control",
        "--set",
        "kv_cache_mib=16",
    ) as url:
        yield url


def cwm(*args: str):
    return CliRunner().invoke(build_cli(), ["eval", *args])


def test_a_wrong_or_missing_key_is_one_line(server, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("CWM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for key in ([], ["--api-key", "sk-wrong"]):
        result = cwm("output-prediction", "--endpoint", server, *key, "--out", str(tmp_path))
        assert result.exit_code == 1 and "refused the API key (401)" in result.output
        assert "Traceback" not in result.output and "--api-key" in result.output
    with pytest.raises(CwmError, match="refused the API key"):
        ForagePolicy(server).start(None)  # type: ignore[arg-type]


def test_an_unserved_model_is_an_error_not_a_fallback(server, monkeypatch) -> None:
    monkeypatch.setenv("CWM_API_KEY", KEY)  # the key from the environment
    result = cwm("output-prediction", "--endpoint", server, "--model", "other")
    assert result.exit_code == 1 and "has no model 'other' (it lists: served)" in result.output
    with pytest.raises(CwmError, match="has no model 'other'"):
        ForagePolicy(server, model="other").start(None)  # type: ignore[arg-type]
    policy = ForagePolicy(server)
    policy.start(None)  # type: ignore[arg-type]
    assert policy.model == "served" and policy.context_len


def test_eval_with_the_key_runs(server, tmp_path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", OUTPUT_ROWS[:1])
    result = cwm(
        "output-prediction",
        "--endpoint",
        server,
        "--api-key",
        KEY,
        "--data",
        str(rows),
        "--set",
        "sampling.max_tokens=4",
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "score" in result.output


def test_the_policy_records_the_version_a_trainer_applied(server) -> None:
    """A remote actor: the trainer publishes weights straight to the server (a weights
    group joined over HTTP); the policy's tokens carry the version that made them."""
    import asyncio

    from cwm.core.envs import Sampling
    from cwm.core.model import build_model, flavor
    from cwm.rl.policies import OpenAIPolicy
    from cwm.serve.weights_client import ServerWeights

    state = build_model(flavor("debug"), seed=3).state_dict()
    trainer = ServerWeights([server], state, api_key=KEY, timeout_s=60)
    trainer.publish(state, version=4)
    assert trainer.apply(4)[0]["version"] == 4
    policy = OpenAIPolicy(server, api_key=KEY)
    action = asyncio.run(policy.act([5, 6, 7], Sampling(max_tokens=5, temperature=0.0)))
    assert len(action.tokens) >= 1 and action.versions == [4] * len(action.tokens)
    assert policy.version == 4
