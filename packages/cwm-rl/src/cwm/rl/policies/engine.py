"""The cwm-serve engine in this process, shared by every open episode.

Each ``act`` adds one request; one driver (`AsyncEngine`'s thread) steps the engine
over all pending requests at once, so N episodes decode as one batch (continuous
batching: an episode that waits on its environment leaves the batch and rejoins
with its next turn). Weights can be swapped between steps for RL
(`update_weights`); each token records the version that sampled it. The RL actor
(`cwm.rl.run.actor`) steps the engine itself, for a deterministic schedule, and shares
this module's request (`engine_params`) and action (`engine_action`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cwm.core.envs import Action, Sampling, fit_max_tokens
from cwm.core.errors import CwmError
from cwm.core.torch_extra import require_device
from cwm.serve.engine import EngineConfig, LLMEngine, SamplingParams
from cwm.serve.engine.async_engine import AsyncEngine
from cwm.serve.engine.outputs import CompletionOutput


def engine_params(sampling: Sampling, max_tokens: int) -> SamplingParams:
    """The engine request of one action (``max_tokens`` already fitted to the context), with
    a logprob for every token: the behaviour logprobs RL trains against."""
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        seed=sampling.seed,
        stop_token_ids=list(sampling.stop_token_ids),
        logprobs=0,
    )


def engine_action(c: CompletionOutput) -> Action:
    """A finished completion as an action: each token with its logprob and the weights
    version that sampled it (a sequence may span an update)."""
    return Action(
        tokens=list(c.token_ids),
        logprobs=[lp.logprob for lp in c.logprobs or []],
        versions=list(c.versions),
        finish_reason=c.finish_reason or "stop",
    )


class EnginePolicy:
    def __init__(self, engine: LLMEngine, *, name: str = "engine"):
        self.engine = engine
        self.name = name
        self.context_len = engine.max_model_len
        self.tokenizer = engine.tokenizer
        self._driver: AsyncEngine | None = None
        self._ids = itertools.count()

    @classmethod
    def from_checkpoint(
        cls, path: Path | str, config: EngineConfig | None = None, *, device: str = "cpu"
    ) -> EnginePolicy:
        require_device(device)
        return cls(LLMEngine.from_checkpoint(path, config, device=device), name=f"engine:{path}")

    @property
    def version(self) -> int:
        return self.engine.policy_version

    def driver(self) -> AsyncEngine:
        if self._driver is None:
            self._driver = AsyncEngine(self.engine)
        return self._driver

    async def act(self, context: list[int], sampling: Sampling) -> Action:
        max_tokens = fit_max_tokens(sampling.max_tokens, len(context), self.context_len)
        if max_tokens < 1:
            raise CwmError(f"the context is full ({len(context)} of {self.context_len} tokens)")
        params = engine_params(sampling, max_tokens)
        final = None
        async for out in self.driver().generate(context, params, f"act-{next(self._ids)}"):
            final = out
        assert final is not None and final.finished
        return engine_action(final.outputs[0])

    async def update_weights(self, weights: Mapping[str, Any], version: int | None = None) -> int:
        """New weights between two engine steps; sequences in flight keep going."""
        return await self.driver().call(lambda e: e.update_weights(weights, version))

    def close(self) -> None:
        if self._driver is not None:
            self._driver.shutdown()
            self._driver = None
