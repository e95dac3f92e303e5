"""What the engine hands back after each step: per request, the choices that moved."""

from __future__ import annotations

from dataclasses import dataclass

from cwm.serve.engine.sequence import TokenLogprob


@dataclass
class CompletionOutput:
    index: int  # which of the request's n samples
    token_ids: list[int]  # every generated token so far (a stop token included)
    text: str  # the text so far (without a stop token or stop string)
    delta_token_ids: list[int]  # new since this choice's previous output
    delta_text: str
    delta_logprobs: list[TokenLogprob]
    logprobs: list[TokenLogprob] | None  # all of them, on a choice's last output
    finish_reason: str | None  # "stop", "length", "abort" or None while running
    policy_version: int  # the weights version the sample started with
    versions: list[int]  # the weights version that sampled each of ``token_ids``


@dataclass
class RequestOutput:
    request_id: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool  # every choice of the request is done
