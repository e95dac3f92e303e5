"""Policies: what writes the actions of an episode.

A policy reads the context (token ids) and writes one action: the tokens it
sampled, their logprobs and, for RL, the weights version that produced each
token (a sequence may span an in-flight weight update). Implementations live
where their engine does (the in-process engine, an OpenAI-compatible endpoint,
the environment's oracle); this module only fixes what they exchange.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import msgspec


class Sampling(msgspec.Struct, frozen=True, kw_only=True):
    """How to sample one action; ``max_tokens`` is a cap that the caller shrinks to the room
    left in the model's context."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 1024
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()  # beside the tokenizer's own stop tokens


class Action(msgspec.Struct, frozen=True, kw_only=True):
    tokens: list[int]
    logprobs: list[float] = []  # one per token where the policy knows them, else empty
    versions: list[int] = []  # the weights version that sampled each token, else empty
    finish_reason: str = "stop"  # "stop", "length" (hit max_tokens) or "abort"


def fit_max_tokens(cap: int, used: int, context_len: int) -> int:
    """A request's ``max_tokens``: the cap, shrunk to the room left after ``used`` tokens in a
    context of ``context_len`` (0 when none is left: the episode ends with FINISH_CONTEXT)."""
    return max(0, min(cap, context_len - used))


@runtime_checkable
class Policy(Protocol):
    name: str
    context_len: int  # the model's context: prompt plus every action and observation

    async def act(self, context: list[int], sampling: Sampling) -> Action: ...
