"""The decode CUDA graphs' static buffers, checked on the CPU.

There is no GPU here, so a graph's replay is stood in for by running the same
forward eagerly over the same static buffers: the padding, scratch block and
mask bookkeeping that a replay reads must give exactly the eager engine's tokens.
On a CUDA machine the real graphs run (`cuda_graphs=True`, the default).
"""

from __future__ import annotations

import torch
from serve_fixtures import random_prompts, windowed_model

from cwm.core.model import greedy
from cwm.serve.engine import EngineConfig, LLMEngine, SamplingParams
from cwm.serve.engine.cuda_graphs import DecodeGraphs, batch_sizes


class EagerReplay:
    def __init__(self, graphs: DecodeGraphs, size: int):
        self.graphs, self.size = graphs, size

    def replay(self) -> None:
        self.graphs._forward(self.size)


class CpuDecodeGraphs(DecodeGraphs):
    def _capture(self) -> None:
        self._reset(0)
        self.graphs = {b: EagerReplay(self, b) for b in self.sizes}  # type: ignore[misc]


def test_padded_decode_batches_read_the_same_keys():
    model = windowed_model()
    prompts = random_prompts(5, low=10, high=40, seed=41)
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=16, max_model_len=256))
    engine.runner.graphs = graphs = CpuDecodeGraphs(engine.runner, 8)
    replays = 0
    original = graphs.run

    def counted(layout):  # type: ignore[no-untyped-def]
        nonlocal replays
        replays += 1
        return original(layout)

    graphs.run = counted  # type: ignore[method-assign]
    params = SamplingParams(temperature=0, max_tokens=30, ignore_eos=True)
    outs = [o.outputs[0].token_ids for o in engine.generate(prompts, params, progress=False)]
    assert outs == [greedy(model, torch.tensor([p]), 30)[0] for p in prompts]
    assert replays > 20  # decode steps went through the static buffers (5 rows padded to 8)


def test_batch_sizes():
    assert batch_sizes(64) == [1, 2, 4, 8, 16, 32, 48, 64]
    assert batch_sizes(5) == [1, 2, 4]
