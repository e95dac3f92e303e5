"""``cwm serve --weights-control`` processes as the actor's engine (config ``servers``).

    pool = ServerPool(cfg.servers, learner.weights(), version=0)
    actor = Actor(pool, tasks, group_size)      # it steps the pool as it would an engine

The pool answers the part of `LLMEngine` the actor uses: ``add_request`` sends the
request to the server with the fewest in flight (the official ``openai`` client through
`OpenAIPolicy`, token ids in and out), ``step`` returns the requests that finished
(waiting a little for one while none has), ``update_weights`` publishes a version to
every server over the trainer's weights group (`ServerWeights`: a bucketed broadcast)
and has each apply it between its decode steps. Sequences in flight on a server keep
their KV cache and go on with the new weights; each token comes back with the version
that sampled it, so the lag bound and the staleness metrics hold as in-process.

The pool starts by publishing the learner's weights, so the servers may have been started
from any checkpoint of the same shape (``cwm serve --random`` too). Each server joins one
run's group: start it again for another run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from torch import Tensor

from cwm.core.envs import Action, Sampling
from cwm.data.openai_server import api_key
from cwm.rl.policies.openai import OpenAIPolicy
from cwm.rl.run.config import ServersOptions
from cwm.serve.engine import SamplingParams
from cwm.serve.engine.outputs import CompletionOutput, RequestOutput
from cwm.serve.engine.sequence import TokenLogprob
from cwm.serve.weights_client import ServerWeights

#: how long a step with requests in flight waits for one to finish before it returns
STEP_WAIT_S = 0.005


class ServerPool:
    def __init__(
        self,
        options: ServersOptions,
        weights: Mapping[str, Tensor],
        version: int,
        *,
        bucket_mb: float = 64.0,
    ):
        self.policies = [OpenAIPolicy(url, timeout=options.timeout_s) for url in options.urls]
        self.max_model_len = min(p.context_len for p in self.policies)
        self.control = ServerWeights(
            [p.base_url for p in self.policies],
            weights,
            host=options.host,
            bucket_mb=bucket_mb,
            backend=options.backend,
            api_key=api_key(),
            timeout_s=options.timeout_s,
        )
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="cwm-servers", daemon=True).start()
        self.pending: dict[str, tuple[Future[Action], int]] = {}
        self.requests = [0] * len(self.policies)  # sent to each server, for the summary
        # the servers start from the learner's weights, whatever version they serve now
        self.control.publish(weights, version)
        self.control.apply(None, timeout_s=options.timeout_s)
        self.policy_version = version

    def add_request(self, request_id: str, prompt: list[int], params: SamplingParams) -> None:
        load = [0] * len(self.policies)
        for _, server in self.pending.values():
            load[server] += 1
        server = load.index(min(load))
        sampling = Sampling(
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            seed=params.seed,
            stop_token_ids=tuple(params.stop_token_ids),
        )
        act = self.policies[server].act(list(prompt), sampling)
        self.pending[request_id] = (asyncio.run_coroutine_threadsafe(act, self.loop), server)
        self.requests[server] += 1

    def has_unfinished(self) -> bool:
        return bool(self.pending)

    def step(self) -> list[RequestOutput]:
        """The requests that finished (a server's error stops the run with its message)."""
        futures = [f for f, _ in self.pending.values()]
        if futures and not any(f.done() for f in futures):
            wait(futures, timeout=STEP_WAIT_S, return_when=FIRST_COMPLETED)
        done = [(rid, f) for rid, (f, _) in self.pending.items() if f.done()]
        for rid, _ in done:
            del self.pending[rid]
        return [_output(rid, f.result()) for rid, f in done]

    def abort(self, request_id: str) -> None:
        future, _ = self.pending.pop(request_id)
        future.cancel()  # closes its connection: the server drops the request

    def update_weights(
        self, weights: Mapping[str, Tensor], version: int, *, recompute_kv: bool = False
    ) -> int:
        """Publish ``version`` to every server and wait until each has applied it
        (``recompute_kv``, the engine's option, is refused at load for servers)."""
        self.control.publish(weights, version)
        self.control.apply(version, timeout_s=self.control.timeout_s)
        self.policy_version = version
        return version

    def summary(self) -> list[dict[str, Any]]:
        """Per server: its URL, the requests sent to it and the version it serves."""
        return [
            {"url": p.base_url, "requests": n, "applied": s["applied"]}
            for p, n, s in zip(self.policies, self.requests, self.control.status())
        ]

    def close(self) -> None:
        for future, _ in self.pending.values():
            future.cancel()
        self.pending.clear()
        self.loop.call_soon_threadsafe(self.loop.stop)
        deadline = time.monotonic() + 5
        while self.loop.is_running() and time.monotonic() < deadline:
            time.sleep(0.01)


def _output(request_id: str, action: Action) -> RequestOutput:
    """A server's reply as the engine's finished output (`engine_action` reads it back)."""
    logprobs = [TokenLogprob(t, lp, []) for t, lp in zip(action.tokens, action.logprobs)]
    choice = CompletionOutput(
        index=0,
        token_ids=action.tokens,
        text="",
        delta_token_ids=[],
        delta_text="",
        delta_logprobs=[],
        logprobs=logprobs,
        finish_reason=action.finish_reason,
        policy_version=action.versions[0] if action.versions else 0,
        versions=action.versions,
    )
    return RequestOutput(
        request_id=request_id, prompt_token_ids=[], outputs=[choice], finished=True
    )
