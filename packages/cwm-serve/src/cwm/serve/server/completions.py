"""``POST /v1/completions``: text or token-id prompts, streamed or not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cwm.core.tokenizer import Tokenizer
from cwm.serve.engine import SamplingParams
from cwm.serve.engine.outputs import CompletionOutput
from cwm.serve.engine.sequence import TokenLogprob
from cwm.serve.server.limits import check_sequences, check_tokens
from cwm.serve.server.protocol import BadRequest, CompletionRequest, Sampling, decode
from cwm.serve.server.state import ServerState, json_response
from cwm.serve.server.streams import (
    SSE_DONE,
    choices_of,
    merged,
    new_id,
    now,
    sse,
    unless_disconnected,
    usage,
)


def sampling_params(body: Sampling, max_tokens: int, *, logprobs: int | None) -> SamplingParams:
    body.refuse_unsupported()
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        top_k=body.top_k or 0,
        seed=body.seed,
        stop=body.stops(),
        stop_token_ids=body.stop_token_ids or [],
        ignore_eos=body.ignore_eos,
        logprobs=logprobs,
        n=body.n,
    )


def legacy_logprobs(tok: Tokenizer, lps: list[TokenLogprob], offset: int) -> dict[str, Any]:
    """The completions API's logprobs object (tokens, token_logprobs, top_logprobs, text_offset)."""
    tokens = [tok.decode([lp.token]) for lp in lps]
    offsets = []
    for t in tokens:
        offsets.append(offset)
        offset += len(t)
    return {
        "tokens": tokens,
        "token_logprobs": [lp.logprob for lp in lps],
        "top_logprobs": [{tok.decode([t]): v for t, v in lp.top} for lp in lps],
        "text_offset": offsets,
    }


async def completions(request: Request) -> Response:
    state: ServerState = request.app.state.cwm
    body = decode(await request.body(), CompletionRequest)
    state.check_model(body.model)
    if body.best_of not in (None, 1) or body.suffix:
        raise BadRequest("best_of and suffix are not supported")
    texts = body.prompts()
    check_sequences(state.limits, len(texts), body.n)
    # off the event loop: a long text takes a while to encode, and /health must answer
    prompts = await asyncio.to_thread(lambda: [state.engine.encode(p) for p in texts])
    params = sampling_params(
        body, 16 if body.max_tokens is None else body.max_tokens, logprobs=body.logprobs
    )
    for p in prompts:
        state.engine.check(p, params)
    check_tokens(state.limits, prompts, params)
    tok = state.engine.tokenizer
    echoes = [tok.decode(p) if body.echo else "" for p in prompts]
    rid, created, n = new_id("cmpl"), now(), params.n
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            _stream(state, prompts, params, echoes, rid, created, include_usage),
            media_type="text/event-stream",
        )
    results = await unless_disconnected(request, _gather(state, prompts, params))
    choices = []
    for i, outs in enumerate(results):
        for c in outs:
            choices.append(_choice(tok, i * n + c.index, echoes[i] + c.text, c, len(echoes[i])))
    generated = sum(len(c.token_ids) for outs in results for c in outs)
    return json_response(
        {
            "id": rid,
            "object": "text_completion",
            "created": created,
            "model": state.model_name,
            "choices": choices,
            "usage": usage(sum(map(len, prompts)), generated),
        }
    )


async def _gather(
    state: ServerState, prompts: list[list[int]], params: SamplingParams
) -> list[list[CompletionOutput]]:
    return list(await asyncio.gather(*(choices_of(state.async_engine, p, params) for p in prompts)))


def _choice(
    tok: Tokenizer, index: int, text: str, c: CompletionOutput, offset: int
) -> dict[str, Any]:
    return {
        "index": index,
        "text": text,
        "logprobs": legacy_logprobs(tok, c.logprobs, offset) if c.logprobs is not None else None,
        "finish_reason": c.finish_reason,
        "token_ids": c.token_ids,  # extension: the generated ids (a stop token included)
        "policy_version": c.policy_version,
        "token_versions": c.versions,  # extension: the weights version of each token id
    }


async def _stream(
    state: ServerState,
    prompts: list[list[int]],
    params: SamplingParams,
    echoes: list[str],
    rid: str,
    created: int,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    tok, n = state.engine.tokenizer, params.n
    head = {"id": rid, "object": "text_completion", "created": created, "model": state.model_name}
    offsets: dict[int, int] = {}
    generated = 0
    async for i, c in merged(state.async_engine, prompts, params):
        index = i * n + c.index
        text = c.delta_text
        if index not in offsets and echoes[i]:
            text = echoes[i] + text
        offset = offsets.get(index, 0)
        offsets[index] = offset + len(text)
        generated += len(c.delta_token_ids)
        lps = (
            legacy_logprobs(tok, c.delta_logprobs, offset) if params.logprobs is not None else None
        )
        choice = {
            "index": index,
            "text": text,
            "logprobs": lps,
            "finish_reason": c.finish_reason,
            "token_ids": c.delta_token_ids,
        }
        yield sse({**head, "choices": [choice]})
    if include_usage:
        yield sse({**head, "choices": [], "usage": usage(sum(map(len, prompts)), generated)})
    yield SSE_DONE
