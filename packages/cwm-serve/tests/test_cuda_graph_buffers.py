"""The decode CUDA graphs' static buffers, checked on the CPU.

There is no GPU here, so a graph's replay is stood in for by running the same
forward eagerly over the same static buffers: the padding, scratch block and
mask bookkeeping that a replay reads must give exactly the eager engine's tokens.
On a CUDA machine the real graphs run (`cuda_graphs=True`, the default).
"""

from __future__ import annotations

import pytest
import torch
from serve_fixtures import random_prompts, windowed_model

from cwm.core.model import greedy
from cwm.serve.engine import EngineConfig, LLMEngine, SamplingParams
from cwm.serve.engine.cuda_graphs import DecodeGraphs, batch_sizes, gather_widths, span_buckets


class EagerReplay:
    def __init__(self, graphs: DecodeGraphs, size: int, span: int):
        self.graphs, self.size, self.span = graphs, size, span

    def replay(self) -> None:
        self.graphs.replayed.append(self.span)
        self.graphs._forward(self.size, self.span)


class CpuDecodeGraphs(DecodeGraphs):
    def _capture(self) -> None:
        self.replayed: list[int] = []
        for span in range(len(self.spans)):
            self._reset(0, span)
        self.graphs = {
            (b, s): EagerReplay(self, b, s)  # type: ignore[misc]
            for b in self.sizes
            for s in range(len(self.spans))
        }


@pytest.mark.parametrize("smear", [False, True])
def test_padded_decode_batches_read_the_same_keys(smear):
    model = windowed_model(smear=smear)
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


def test_decode_graphs_gather_only_the_span_of_the_longest_sequence():
    """Sequences growing from 10-40 to 50-80 tokens replay the 48- and then the 96-token
    graphs, never the full 256: the gathered keys follow the real lengths."""
    model = windowed_model()
    prompts = random_prompts(5, low=10, high=40, seed=43)
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=16, max_model_len=256))
    engine.runner.graphs = graphs = CpuDecodeGraphs(engine.runner, 8, spans=[48, 96, 256])
    assert graphs.widths == [[4, 2], [7, 2], [17, 2]]  # the global group, then the local one
    params = SamplingParams(temperature=0, max_tokens=40, ignore_eos=True)
    outs = [o.outputs[0].token_ids for o in engine.generate(prompts, params, progress=False)]
    assert outs == [greedy(model, torch.tensor([p]), 40)[0] for p in prompts]
    assert set(graphs.replayed) == {0, 1} and graphs.replayed == sorted(graphs.replayed)


def test_span_buckets_and_their_widths():
    assert span_buckets(16384) == [256, 1024, 4096, 16384]
    assert span_buckets(16384, ratio=2, count=3) == [4096, 8192, 16384]
    assert span_buckets(300) == [300]  # nothing shorter than one flash block
    # the 1b flavor at 16 tokens a block: a global layer's widths, a 2048-token local window's
    assert [gather_widths(s, [None, 2048], 16) for s in (256, 16384)] == [[17, 17], [1025, 129]]


def test_batch_sizes():
    assert batch_sizes(64) == [1, 2, 4, 8, 16, 32, 48, 64]
    assert batch_sizes(5) == [1, 2, 4]
