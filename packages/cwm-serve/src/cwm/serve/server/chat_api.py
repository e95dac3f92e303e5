"""``POST /v1/chat/completions`` in the CWM chat format (tools, reasoning, streaming)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cwm.core.formats.chat import encode_chat
from cwm.core.tokenizer import Tokenizer
from cwm.serve.engine import SamplingParams
from cwm.serve.engine.outputs import CompletionOutput
from cwm.serve.engine.sequence import TokenLogprob
from cwm.serve.server.chat import ChatPlan
from cwm.serve.server.completions import sampling_params
from cwm.serve.server.limits import check_sequences, check_tokens
from cwm.serve.server.protocol import BadRequest, ChatRequest, decode
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


def chat_logprobs(tok: Tokenizer, lps: list[TokenLogprob]) -> dict[str, Any]:
    def entry(token: int, logprob: float) -> dict[str, Any]:
        text = tok.decode([token])
        return {"token": text, "logprob": logprob, "bytes": list(tok.decode_bytes([token]))}

    return {
        "content": [
            {**entry(lp.token, lp.logprob), "top_logprobs": [entry(t, v) for t, v in lp.top]}
            for lp in lps
        ]
    }


def _finish(reason: str | None, calls: list[Any]) -> str | None:
    return "tool_calls" if calls and reason == "stop" else reason


async def chat_completions(request: Request) -> Response:
    state: ServerState = request.app.state.cwm
    body: ChatRequest = decode(await request.body(), ChatRequest)
    state.check_model(body.model)
    check_sequences(state.limits, 1, body.n)
    plan = ChatPlan(body)
    if body.top_logprobs is not None and not body.logprobs:
        raise BadRequest("top_logprobs needs logprobs=true")
    tok = state.engine.tokenizer
    # off the event loop: a long conversation takes a while to encode
    prompt = await asyncio.to_thread(
        encode_chat, tok, plan.messages, generation_prompt=True, reasoning=plan.reasoning
    )
    limit = body.max_completion_tokens or body.max_tokens
    max_tokens = limit if limit is not None else max(1, state.engine.max_model_len - len(prompt))
    logprobs = (body.top_logprobs or 0) if body.logprobs else None
    params = sampling_params(body, max_tokens, logprobs=logprobs)
    state.engine.check(prompt, params)
    check_tokens(state.limits, [prompt], params)
    rid, created = new_id("chatcmpl"), now()
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            _stream(state, plan, prompt, params, rid, created, include_usage),
            media_type="text/event-stream",
        )
    outs = await unless_disconnected(request, choices_of(state.async_engine, prompt, params))
    return json_response(
        {
            "id": rid,
            "object": "chat.completion",
            "created": created,
            "model": state.model_name,
            "choices": [_choice(tok, plan, c, params) for c in outs],
            "usage": usage(len(prompt), sum(len(c.token_ids) for c in outs)),
        }
    )


def _choice(
    tok: Tokenizer, plan: ChatPlan, c: CompletionOutput, params: SamplingParams
) -> dict[str, Any]:
    reasoning, content = plan.split(c.text, final=True)
    content, calls = plan.tool_calls(content)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content if content or not calls else None,
    }
    if plan.reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    lps = chat_logprobs(tok, c.logprobs) if c.logprobs is not None else None
    return {
        "index": c.index,
        "message": message,
        "logprobs": lps,
        "finish_reason": _finish(c.finish_reason, calls),
        "token_ids": c.token_ids,
        "policy_version": c.policy_version,
        "token_versions": c.versions,  # extension: the weights version of each token id
    }


async def _stream(
    state: ServerState,
    plan: ChatPlan,
    prompt: list[int],
    params: SamplingParams,
    rid: str,
    created: int,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    tok = state.engine.tokenizer
    head = {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": state.model_name,
    }

    def chunk(
        index: int, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None
    ) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        return sse({**head, "choices": [choice]})

    texts: dict[int, str] = {}
    sent: dict[int, tuple[int, int]] = {}  # choice -> (reasoning chars, content chars) sent
    generated = 0
    for i in range(params.n):
        yield chunk(i, {"role": "assistant", "content": ""})
    async for _, c in merged(state.async_engine, [prompt], params):
        i = c.index
        texts[i] = texts.get(i, "") + c.delta_text
        generated += len(c.delta_token_ids)
        done = c.finish_reason is not None
        reasoning, content = plan.split(texts[i], final=done)
        calls: list[Any] = []
        if done:
            content, calls = plan.tool_calls(content)
        r_sent, c_sent = sent.get(i, (0, 0))
        delta: dict[str, Any] = {}
        if len(reasoning) > r_sent:
            delta["reasoning_content"] = reasoning[r_sent:]
        if len(content) > c_sent:
            delta["content"] = content[c_sent:]
        if calls:
            delta["tool_calls"] = [{"index": 0, **call} for call in calls]
        sent[i] = (max(r_sent, len(reasoning)), max(c_sent, len(content)))
        lps = chat_logprobs(tok, c.delta_logprobs) if params.logprobs is not None else None
        if delta or done or lps:
            yield chunk(i, delta, _finish(c.finish_reason, calls), lps)
    if include_usage:
        yield sse({**head, "choices": [], "usage": usage(len(prompt), generated)})
    yield SSE_DONE
