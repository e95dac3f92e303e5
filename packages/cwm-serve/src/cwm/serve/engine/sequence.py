"""One generated sequence: its tokens, where its KV lives, and how far it got."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

import torch

from cwm.serve.engine.sampling_params import SEED_LIMIT, SamplingParams

#: a block-table entry whose block left the layer group's window and was freed
FREED = -1


class Status(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(frozen=True)
class TokenLogprob:
    token: int
    logprob: float
    top: list[tuple[int, float]]  # the most likely tokens at this step, best first


@dataclass(eq=False)
class Sequence:
    request_id: str
    index: int  # which of the request's n samples
    token_ids: list[int]
    params: SamplingParams
    #: weights version this sequence started with (async RL attributes samples by it)
    policy_version: int = 0
    status: Status = Status.WAITING
    #: tokens whose keys and values are in the cache
    num_computed: int = 0
    #: tokens computed by the step in flight
    num_scheduled: int = 0
    #: physical block of each logical block, one table per KV group (FREED: left the window)
    block_tables: list[list[int]] = field(default_factory=list)
    #: hash chain of the full blocks of ``token_ids`` computed so far (prefix caching)
    block_hashes: list[int] = field(default_factory=list)
    #: leading full blocks already entered in the pools' hash indexes
    num_registered: int = 0
    logprobs: list[TokenLogprob] = field(default_factory=list)
    #: the weights version that sampled each generated token (updates happen between steps)
    versions: list[int] = field(default_factory=list)
    finish_reason: str | None = None  # "stop", "length" or "abort"
    first_token_time: float | None = None
    generator: torch.Generator | None = None

    def __post_init__(self) -> None:
        self.num_prompt_tokens = len(self.token_ids)
        if self.params.seed is not None:
            self.generator = torch.Generator().manual_seed(
                (self.params.seed + self.index) % SEED_LIMIT
            )

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def output_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens :]

    @property
    def finished(self) -> bool:
        return self.status is Status.FINISHED

    def append(self, token: int, version: int = 0) -> None:
        self.token_ids.append(token)
        self.versions.append(version)
        if self.first_token_time is None:
            self.first_token_time = time.perf_counter()
