"""A load test: 200 requests from 16 concurrent openai clients, no error, no leaked block."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
from memorized import CODE_PROMPT, THINK_CHAT, TOOL_CHAT

REQUESTS, CLIENTS = 200, 16


def one(server: str, i: int) -> int:
    """Request ``i`` (a mix of completions, chat and streams); its number of new tokens."""
    client = openai.OpenAI(base_url=server, api_key="unused", max_retries=0, timeout=120)
    rng = random.Random(i)
    kind = i % 4
    max_tokens = rng.randint(1, 24)
    if kind == 0:
        out = client.completions.create(
            model="memorized",
            prompt=CODE_PROMPT + " " * rng.randint(0, 40),
            max_tokens=max_tokens,
            temperature=0.8,
            seed=i,
        )
        return out.usage.completion_tokens
    if kind == 1:
        out = client.chat.completions.create(
            model="memorized", max_tokens=max_tokens, n=2, temperature=1.0, **TOOL_CHAT
        )
        return out.usage.completion_tokens
    if kind == 2:
        stream = client.chat.completions.create(
            model="memorized",
            max_tokens=max_tokens,
            messages=THINK_CHAT["messages"],
            stream=True,
            stream_options={"include_usage": True},
        )
        return [c for c in stream][-1].usage.completion_tokens
    ids = [rng.randrange(16_000) for _ in range(rng.randint(1, 300))]
    out = client.completions.create(
        model="memorized", prompt=ids, max_tokens=max_tokens, temperature=0, stop=["\n"]
    )
    return out.usage.completion_tokens


def test_200_requests_from_16_clients(server):
    with ThreadPoolExecutor(CLIENTS) as pool:
        generated = list(pool.map(lambda i: one(server, i), range(REQUESTS)))
    assert len(generated) == REQUESTS and all(n >= 1 for n in generated)
    health = httpx.get(server.removesuffix("/v1") + "/health").json()
    assert health["running"] == 0 and health["waiting"] == 0
    assert health["free_blocks"] == health["total_blocks"]  # no leaked block
