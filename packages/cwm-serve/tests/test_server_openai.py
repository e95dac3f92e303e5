"""The server against the official openai client: a real `cwm serve` process on 127.0.0.1."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from memorized import CODE_PROMPT, CODE_REPLY, THINK_CHAT, TOOL_CHAT

from cwm.core.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server, api_key="unused", max_retries=0)


def health(server: str) -> dict:
    return httpx.get(server.removesuffix("/v1") + "/health").json()


def wait_idle(server: str, timeout: float = 20.0) -> dict:
    """/health once nothing runs and every block is free again (bounded in time)."""
    deadline = time.monotonic() + timeout
    while True:
        h = health(server)
        if h["running"] == 0 and h["waiting"] == 0 and h["free_blocks"] == h["total_blocks"]:
            return h
        assert time.monotonic() < deadline, f"blocks still held: {h}"
        time.sleep(0.1)


def test_models_and_health(client, server):
    assert [m.id for m in client.models.list().data] == ["memorized"]
    assert health(server)["status"] == "ok"


def test_completion_from_text_and_from_token_ids(client):
    out = client.completions.create(
        model="memorized", prompt=CODE_PROMPT, max_tokens=20, temperature=0
    )
    choice = out.choices[0]
    assert choice.text == CODE_REPLY and choice.finish_reason == "stop"
    ids = Tokenizer().encode(CODE_PROMPT)
    again = client.completions.create(model="memorized", prompt=ids, max_tokens=20, temperature=0)
    assert again.choices[0].text == CODE_REPLY
    assert out.usage.prompt_tokens == len(ids)
    assert out.usage.completion_tokens == len(choice.model_extra["token_ids"])


def test_stop_strings_and_length(client):
    out = client.completions.create(
        model="memorized", prompt=CODE_PROMPT, max_tokens=20, temperature=0, stop=["+"]
    )
    assert out.choices[0].text == CODE_REPLY[: CODE_REPLY.index("+")]
    assert out.choices[0].finish_reason == "stop"
    short = client.completions.create(
        model="memorized", prompt=CODE_PROMPT, max_tokens=2, temperature=0
    )
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 2


def test_streaming_completion_is_token_by_token(client):
    stream = client.completions.create(
        model="memorized",
        prompt=CODE_PROMPT,
        max_tokens=20,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert "".join(texts) == CODE_REPLY
    assert len(texts) >= len(Tokenizer().encode(CODE_REPLY))  # one chunk per token
    assert chunks[-1].usage.completion_tokens == len(texts)


def test_n_samples_and_logprobs(client):
    out = client.completions.create(
        model="memorized",
        prompt=CODE_PROMPT,
        max_tokens=4,
        n=3,
        temperature=1.0,
        seed=5,
        logprobs=2,
    )
    assert sorted(c.index for c in out.choices) == [0, 1, 2]
    for c in out.choices:
        lp = c.logprobs
        assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
        assert all(v <= 0 for v in lp.token_logprobs)
        assert all(len(top) <= 2 for top in lp.top_logprobs)
    assert out.usage.completion_tokens == 12


def test_chat_with_tools_returns_tool_calls(client):
    out = client.chat.completions.create(
        model="memorized", max_tokens=40, temperature=0, **TOOL_CHAT
    )
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "I will list them."
    (call,) = choice.message.tool_calls
    assert call.function.name == "bash"
    assert json.loads(call.function.arguments) == {"command": "ls /tmp"}


def test_a_tool_result_goes_back_in_the_cwm_format(client):
    first = client.chat.completions.create(
        model="memorized", max_tokens=40, temperature=0, **TOOL_CHAT
    )
    call = first.choices[0].message.tool_calls[0]
    messages = [
        *TOOL_CHAT["messages"],
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "a.txt\nb.txt"},
    ]
    out = client.chat.completions.create(
        model="memorized", max_tokens=3, temperature=0, messages=messages, tools=TOOL_CHAT["tools"]
    )
    assert out.usage.prompt_tokens > first.usage.prompt_tokens + first.usage.completion_tokens


def test_streaming_chat_with_tools(client):
    stream = client.chat.completions.create(
        model="memorized", max_tokens=40, temperature=0, stream=True, **TOOL_CHAT
    )
    content, calls, finish = "", [], None
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        calls += delta.tool_calls or []
        finish = chunk.choices[0].finish_reason or finish
    assert content.strip() == "I will list them."
    assert [c.function.name for c in calls] == ["bash"] and finish == "tool_calls"


def test_reasoning_mode_returns_reasoning_content(client):
    out = client.chat.completions.create(
        model="memorized",
        max_tokens=40,
        temperature=0,
        messages=THINK_CHAT["messages"],
        reasoning_effort="medium",
    )
    message = out.choices[0].message
    assert message.model_extra["reasoning_content"] == "Two and two make four."
    assert message.content == "4"
    stream = client.chat.completions.create(
        model="memorized",
        max_tokens=40,
        temperature=0,
        messages=THINK_CHAT["messages"],
        stream=True,
        extra_body={"reasoning": True},
    )
    reasoning = content = ""
    for chunk in stream:
        delta = chunk.choices[0].delta
        reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
        content += delta.content or ""
    assert (reasoning, content) == ("Two and two make four.", "4")


def test_bad_requests_get_a_400_with_a_message(client):
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.completions.create(model="memorized", prompt="x", max_tokens="many")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="temperature must be >= 0"):
        client.completions.create(model="memorized", prompt="x", temperature=-1)
    with pytest.raises(openai.BadRequestError, match="exceed the context of 1024"):
        client.completions.create(model="memorized", prompt=[5] * 1020, max_tokens=10)
    with pytest.raises(openai.BadRequestError, match="unknown message role"):
        client.chat.completions.create(
            model="memorized", messages=[{"role": "robot", "content": "x"}]
        )  # type: ignore[list-item]
    with pytest.raises(openai.BadRequestError, match="not supported"):
        client.completions.create(model="memorized", prompt="x", presence_penalty=1.0)


def test_a_client_that_disconnects_frees_its_blocks(server):
    body = {"prompt": CODE_PROMPT, "max_tokens": 1000, "ignore_eos": True, "stream": True}
    aborted = health(server)["aborted"]
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", f"{server}/completions", json=body) as r,
    ):
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
        assert health(server)["running"] == 1
    assert wait_idle(server)["aborted"] == aborted + 1  # cut short, not run to the end
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server}/completions", json={**body, "stream": False}, timeout=0.5)
    assert wait_idle(server)["aborted"] == aborted + 2
