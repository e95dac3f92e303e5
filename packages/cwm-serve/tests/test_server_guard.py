"""The server behind a key and limits: a real `cwm serve` on 127.0.0.1, the official
openai client and raw HTTP. Every refusal is an OpenAI error body, and the server
keeps answering afterwards."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from cwm.serve.testing import running_server

KEY = "sk-test-guard"


@pytest.fixture(scope="module")
def server():
    # the key comes from the environment, as `CWM_API_KEY=... cwm serve` would take it
    with running_server(
        "--random",
        "debug",
        "--model-name",
        "guarded",
        "--threads",
        "1",
        "--max-n",
        "4",
        "--max-request-tokens",
        "2000",
        "--max-body-bytes",
        "100000",
        "--set",
        "max_num_seqs=2",
        "--set",
        "kv_cache_mib=16",
        env={"CWM_API_KEY": KEY},
    ) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server, api_key=KEY, max_retries=0, timeout=60)


def post(server: str, path: str, content: bytes, *, key: str | None = KEY) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return httpx.post(f"{server}{path}", content=content, headers=headers, timeout=30)


def openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    return error


def test_v1_needs_the_key_and_health_does_not(server, client):
    root = server.removesuffix("/v1")
    assert httpx.get(f"{root}/health", timeout=10).json()["status"] == "ok"
    for key in (None, "sk-wrong"):
        headers = {} if key is None else {"authorization": f"Bearer {key}"}
        response = httpx.get(f"{server}/models", headers=headers, timeout=10)
        assert openai_error(response, 401)["code"] == "invalid_api_key"
    wrong = openai.OpenAI(base_url=server, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="CWM_API_KEY"):
        wrong.completions.create(model="guarded", prompt="x", max_tokens=2)
    assert [m.id for m in client.models.list().data] == ["guarded"]
    out = client.completions.create(model="guarded", prompt="def f", max_tokens=3, temperature=0)
    assert len(out.choices[0].token_ids) == 3  # type: ignore[attr-defined]


def test_too_many_sequences_or_tokens_are_refused(client):
    with pytest.raises(
        openai.BadRequestError, match=r"n=100000 asks for 100000 sequences.*--max-n"
    ):
        client.completions.create(model="guarded", prompt="x", max_tokens=2, n=100_000)
    with pytest.raises(openai.BadRequestError, match=r"n=3 x 2 prompts asks for 6 sequences"):
        client.completions.create(model="guarded", prompt=["a", "b"], max_tokens=2, n=3)
    with pytest.raises(openai.BadRequestError, match="--max-request-tokens"):
        client.completions.create(model="guarded", prompt="x", max_tokens=600, n=4)
    with pytest.raises(openai.BadRequestError, match="--max-n"):
        client.chat.completions.create(
            model="guarded", n=5, max_tokens=2, messages=[{"role": "user", "content": "hi"}]
        )


def test_bodies_over_the_limit_get_413(server):
    big = b'{"model": "guarded", "prompt": "' + b"x" * 200_000 + b'"}'
    assert "100000 bytes" in openai_error(post(server, "/completions", big), 413)["message"]

    def chunks():  # no Content-Length: the limit holds while the body is read
        for i in range(0, len(big), 10_000):
            yield big[i : i + 10_000]

    chunked = httpx.post(
        f"{server}/completions",
        content=chunks(),
        timeout=30,
        headers={"authorization": f"Bearer {KEY}"},
    )
    openai_error(chunked, 413)


def test_bad_bodies_are_400s_that_say_why(server, client):
    bad_utf8 = b'{"model": "guarded", "prompt": "\xff\xfe", "max_tokens": 2}'
    assert "UTF-8" in openai_error(post(server, "/completions", bad_utf8), 400)["message"]
    with pytest.raises(openai.BadRequestError, match=r"seed must be in \[0, 2\*\*63\)"):
        client.completions.create(model="guarded", prompt="x", max_tokens=2, seed=2**70)
    with pytest.raises(openai.NotFoundError, match="'gpt-4' does not exist"):
        client.completions.create(model="gpt-4", prompt="x", max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="gpt-4", max_tokens=2, messages=[{"role": "user", "content": "hi"}]
        )
    # and the engine still serves
    out = client.completions.create(model="guarded", prompt="x", max_tokens=2, seed=7)
    assert out.choices[0].finish_reason == "length"


def wait_until_running(server: str, n: int, timeout: float = 60.0) -> None:
    """Poll /health until the engine runs ``n`` sequences."""
    health = server.removesuffix("/v1") + "/health"
    deadline = time.monotonic() + timeout
    while httpx.get(health, timeout=10).json()["running"] < n:
        assert time.monotonic() < deadline, "the long request never started"
        time.sleep(0.02)


def test_a_large_request_does_not_starve_a_small_one(server, client):
    # the engine runs 2 sequences at once; 4 long samples of one request must not hold
    # both slots until all of them finish while a short request waits
    done: dict[str, float] = {}

    def long_request() -> None:
        client.completions.create(
            model="guarded",
            prompt="a",
            max_tokens=400,
            n=4,
            temperature=0,
            extra_body={"ignore_eos": True},
        )
        done["long"] = time.monotonic()

    thread = threading.Thread(target=long_request)
    thread.start()
    wait_until_running(server, 2)  # the long request holds both slots
    client.completions.create(
        model="guarded", prompt="b", max_tokens=5, temperature=0, extra_body={"ignore_eos": True}
    )
    done["short"] = time.monotonic()
    thread.join(timeout=120)
    assert "long" in done and done["short"] < done["long"]


def test_the_cli_defaults_are_the_config_defaults():
    from cwm.serve.cli.serve import serve
    from cwm.serve.server.limits import ServerLimits

    defaults = {p.name: p.default for p in serve.params}
    limits = ServerLimits()
    for key in ("max_n", "max_request_tokens", "max_body_bytes"):
        assert defaults[key] == getattr(limits, key)
