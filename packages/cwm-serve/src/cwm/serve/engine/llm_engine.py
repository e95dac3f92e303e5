"""The engine: requests in, a step loop of schedule -> forward -> sample, outputs out.

    engine = LLMEngine(model)                        # a cwm-core Transformer
    engine = LLMEngine.from_checkpoint("ckpt/")      # any format load_checkpoint reads
    outs = engine.generate(["def f(x):"], SamplingParams(temperature=0, max_tokens=32))

    engine.add_request("r1", prompt_ids, params)     # or drive it step by step
    while engine.has_unfinished():
        for out in engine.step(): ...
    engine.update_weights(new_state_dict)            # between steps; in-flight sequences go on

Not thread-safe: one thread drives it (the server wraps it in `AsyncEngine`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from cwm.core.errors import CwmError
from cwm.core.model import Transformer
from cwm.core.tokenizer import Tokenizer
from cwm.serve.engine.block_manager import BlockManager, KVGroup
from cwm.serve.engine.config import EngineConfig
from cwm.serve.engine.detokenizer import Detokenizer
from cwm.serve.engine.model_runner import ModelRunner, flash_available
from cwm.serve.engine.outputs import CompletionOutput, RequestOutput
from cwm.serve.engine.paged_cache import COPY_KEY_DTYPE
from cwm.serve.engine.sampler import sample
from cwm.serve.engine.sampling_params import SamplingParams
from cwm.serve.engine.scheduler import Scheduler
from cwm.serve.engine.sequence import Sequence
from cwm.serve.engine.weights import copy_weights


@dataclass
class Request:
    request_id: str
    prompt: list[int]
    seqs: list[Sequence]
    detoks: list[Detokenizer]
    sent: list[int] = field(default_factory=list)  # tokens already reported, per choice
    closed: set[int] = field(default_factory=set)  # choices whose end was reported

    @property
    def finished(self) -> bool:
        return all(s.finished for s in self.seqs)


def kv_groups(
    model: Transformer, config: EngineConfig, block_size: int, max_model_len: int
) -> list[KVGroup]:
    """Layers grouped by window, each group with its pool size (see `EngineConfig`). A copy
    head's keys (every token's, fp32) live in the unbounded group's blocks, one with no
    layers if every layer has a window."""
    cfg = model.config
    by_window: dict[int | None, list[int]] = {}
    for layer, w in enumerate(cfg.layer_windows()):
        # a window as long as the context never frees anything: it is unbounded here
        by_window.setdefault(None if w is None or w >= max_model_len else w, []).append(layer)
    itemsize = model.output.weight.element_size()
    token_bytes = {
        w: 2 * len(ls) * cfg.n_kv_heads * cfg.head_dim * itemsize for w, ls in by_window.items()
    }
    if cfg.copy_dim:
        by_window.setdefault(None, [])
        token_bytes[None] = token_bytes.get(None, 0) + cfg.copy_dim * COPY_KEY_DTYPE.itemsize

    def cap(w: int | None) -> int | None:  # the most blocks a windowed group can need
        if w is None or not config.window_aware:
            return None
        per_seq = -(-w // block_size) + 2
        return config.max_num_seqs * per_seq + -(-config.max_num_batched_tokens // block_size)

    budget = config.kv_cache_mib * 2**20 // block_size
    # every group's blocks: the given count, or the budget split evenly
    full = config.num_blocks or budget // sum(token_bytes.values())
    capped = {w: min(c, full) for w in by_window if (c := cap(w)) is not None}
    rest = sum(b for w, b in token_bytes.items() if w not in capped)
    if config.num_blocks is None and capped and rest:  # the unbounded groups take the rest
        full = (budget - sum(n * token_bytes[w] for w, n in capped.items())) // rest
    if full * block_size < max_model_len:
        raise CwmError(
            f"the KV cache holds {full * block_size} tokens, less than max_model_len="
            f"{max_model_len}; raise kv_cache_mib or num_blocks, or lower max_model_len"
        )
    # a windowed group gets what the budget gave it, the rest what is left over
    return [KVGroup(tuple(layers), w, capped.get(w, full)) for w, layers in by_window.items()]


class LLMEngine:
    def __init__(
        self,
        model: Transformer,
        tokenizer: Tokenizer | None = None,
        config: EngineConfig | None = None,
        *,
        policy_version: int = 0,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer or Tokenizer.for_model(model.config)
        self.config = config = config or EngineConfig()
        self.policy_version = policy_version
        weight = model.output.weight
        block_size = config.resolve_block_size(flash_available(weight.device, weight.dtype))
        self.max_model_len = config.max_model_len or model.config.max_seq_len
        self.groups = kv_groups(model, config, block_size, self.max_model_len)
        self.blocks = BlockManager(
            self.groups,
            block_size,
            prefix_caching=config.prefix_caching,
            window_aware=config.window_aware,
        )
        self.blocks.version = policy_version
        self.scheduler = Scheduler(
            self.blocks,
            max_num_seqs=config.max_num_seqs,
            max_num_batched_tokens=config.max_num_batched_tokens,
        )
        self.runner = ModelRunner(
            model,
            self.groups,
            block_size,
            cuda_graphs=config.cuda_graphs,
            max_graph_batch=config.max_graph_batch,
            max_model_len=self.max_model_len,
        )
        self.requests: dict[str, Request] = {}
        self.num_aborted = 0
        self._ids = itertools.count()

    @classmethod
    def from_checkpoint(
        cls,
        path: Path | str,
        config: EngineConfig | None = None,
        *,
        device: str = "cpu",
        dtype: torch.dtype | None = None,
    ) -> LLMEngine:
        from cwm.core.checkpoint import load_checkpoint

        return cls(load_checkpoint(path, device=device, dtype=dtype), config=config)

    # -- requests ----------------------------------------------------------------

    def encode(self, prompt: str | list[int]) -> list[int]:
        return self.tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)

    def check(self, prompt_ids: list[int], params: SamplingParams) -> None:
        """Raise a `CwmError` for a request the engine cannot serve."""
        if not prompt_ids:
            raise CwmError("the prompt is empty")
        vocab = self.model.config.vocab_size
        if any(not 0 <= t < vocab for t in prompt_ids):
            raise CwmError(f"prompt token ids must be in [0, {vocab})")
        total = len(prompt_ids) + params.max_tokens
        if total > self.max_model_len:
            raise CwmError(
                f"the prompt has {len(prompt_ids)} tokens and max_tokens is {params.max_tokens}: "
                f"{total} tokens exceed the context of {self.max_model_len}; "
                "shorten the prompt or lower max_tokens"
            )

    def add_request(
        self, request_id: str | None, prompt: str | list[int], params: SamplingParams | None = None
    ) -> str:
        params = params or SamplingParams()
        ids = self.encode(prompt)
        self.check(ids, params)
        request_id = request_id if request_id is not None else f"req-{next(self._ids)}"
        if request_id in self.requests:
            raise CwmError(f"request id {request_id!r} is already in use")
        seqs = [
            Sequence(request_id, i, list(ids), params, self.policy_version) for i in range(params.n)
        ]
        detoks = [Detokenizer(self.tokenizer, params.stop) for _ in seqs]
        self.requests[request_id] = Request(request_id, ids, seqs, detoks, [0] * params.n)
        for seq in seqs:
            self.scheduler.add(seq)
        return request_id

    def abort(self, request_id: str) -> None:
        """Stop a request wherever it is; its blocks are freed at once."""
        request = self.requests.pop(request_id, None)
        self.num_aborted += request is not None
        for seq in request.seqs if request else []:
            if not seq.finished:
                self.scheduler.finish(seq, "abort")

    def has_unfinished(self) -> bool:
        return self.scheduler.has_unfinished()

    # -- the step ----------------------------------------------------------------

    def step(self) -> list[RequestOutput]:
        """Schedule, run one forward, sample; the outputs of the requests that moved."""
        batch = self.scheduler.schedule()
        if not batch:
            return []
        samplers, logits = self.runner.run(batch)
        for seq in batch:
            seq.num_computed += seq.num_scheduled
            seq.num_scheduled = 0
            self.blocks.computed(seq)
        tokens, logprobs = sample(logits, samplers)
        moved: dict[str, Request] = {}
        for seq, token, lp in zip(samplers, tokens, logprobs):
            request = self.requests[seq.request_id]
            seq.append(token, self.policy_version)
            if lp is not None:
                seq.logprobs.append(lp)
            reason = self._finish_reason(seq, token, request.detoks[seq.index])
            if reason:
                self.scheduler.finish(seq, reason)
            moved[seq.request_id] = request
        outputs = [self._output(r) for r in moved.values()]
        for r in moved.values():
            if r.finished:
                del self.requests[r.request_id]
        return outputs

    def _finish_reason(self, seq: Sequence, token: int, detok: Detokenizer) -> str | None:
        p = seq.params
        stop_token = token in p.stop_token_ids or (
            not p.ignore_eos and token in self.tokenizer.stop_ids
        )
        detok.add(token, visible=not stop_token)
        if stop_token or detok.stopped:
            return "stop"
        if len(seq.output_ids) >= p.max_tokens or len(seq) >= self.max_model_len:
            return "length"
        return None

    def _output(self, request: Request) -> RequestOutput:
        outs = []
        for seq, detok in zip(request.seqs, request.detoks):
            new = len(seq.output_ids) - request.sent[seq.index]
            if new == 0 and (not seq.finished or seq.index in request.closed):
                continue
            if seq.finished:
                request.closed.add(seq.index)
            start = request.sent[seq.index]
            request.sent[seq.index] = len(seq.output_ids)
            outs.append(
                CompletionOutput(
                    index=seq.index,
                    token_ids=seq.output_ids,
                    text=detok.text,
                    delta_token_ids=seq.output_ids[start:],
                    delta_text=detok.delta(final=seq.finished),
                    delta_logprobs=seq.logprobs[start:],
                    logprobs=list(seq.logprobs)
                    if seq.finished and seq.params.logprobs is not None
                    else None,
                    finish_reason=seq.finish_reason,
                    policy_version=seq.policy_version,
                    versions=list(seq.versions),
                )
            )
        return RequestOutput(request.request_id, request.prompt, outs, request.finished)

    # -- batch generation --------------------------------------------------------

    def generate(
        self,
        prompts: list[str] | list[list[int]],
        params: SamplingParams | list[SamplingParams] | None = None,
        *,
        progress: bool = True,
    ) -> list[RequestOutput]:
        """Run ``prompts`` to completion; one final output per prompt, in order, with
        every choice's full ``token_ids``/``text``."""
        plist = params if isinstance(params, list) else [params or SamplingParams()] * len(prompts)
        ids = [self.add_request(None, p, sp) for p, sp in zip(prompts, plist)]
        final: dict[str, RequestOutput] = {}
        choices: dict[str, dict[int, CompletionOutput]] = {i: {} for i in ids}
        with tqdm(total=len(ids), desc="generating", unit="req", disable=not progress) as bar:
            while self.has_unfinished():
                for out in self.step():
                    if out.request_id not in choices:
                        continue
                    for c in out.outputs:
                        choices[out.request_id][c.index] = c
                    if out.finished:
                        out.outputs = [
                            choices[out.request_id][i] for i in sorted(choices[out.request_id])
                        ]
                        final[out.request_id] = out
                        bar.update()
        return [final[i] for i in ids]

    # -- weights and accounting --------------------------------------------------

    def update_weights(
        self,
        weights: Mapping[str, Tensor] | nn.Module,
        version: int | None = None,
        *,
        strict: bool = True,
        recompute_kv: bool = False,
    ) -> int:
        """Copy new weights into the running model between steps; running sequences keep
        their KV cache and go on with them (``recompute_kv``: their KV is recomputed with
        the new weights first), and their next tokens record ``version`` (default: the
        previous one + 1), as new sequences do. Returns the version now in use."""
        copy_weights(self.model, weights, strict=strict)
        if recompute_kv:
            self.scheduler.recompute_all()
        self.policy_version = self.policy_version + 1 if version is None else version
        self.blocks.version = self.policy_version  # the prefix cache holds old-weights KV
        return self.policy_version

    def stats(self) -> dict[str, Any]:
        return {
            "running": len(self.scheduler.running),
            "waiting": len(self.scheduler.waiting),
            "free_blocks": self.blocks.num_free(),
            "total_blocks": [g.num_blocks for g in self.groups],
            "block_size": self.blocks.block_size,
            "preemptions": self.scheduler.num_preemptions,
            "prefix_hit_tokens": self.scheduler.num_prefix_hit_tokens,
            "aborted": self.num_aborted,
            "policy_version": self.policy_version,
        }

    def kv_usage(self) -> tuple[int, int]:
        """(bytes of KV blocks held by sequences, tokens those sequences have cached)."""
        held = sum(
            (pool.num_blocks - pool.num_free) * self.runner.store.block_bytes(g)
            for g, pool in enumerate(self.blocks.pools)
        )
        tokens = sum(s.num_computed for s in self.scheduler.running)
        return held, tokens
