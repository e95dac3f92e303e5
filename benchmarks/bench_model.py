"""Forward+backward throughput of the tiny flavor on CPU: ours against transformers'
CwmForCausalLM with the same config and weights, in the same run.

Goal: ours (eager, the default config) is at least as fast: speedup >= 1.0.
Sequences are longer than the local window, so both run sliding-window attention.
The matmuls, norms and SDPA kernel are the same; the difference is the default
``banded`` attention backend, which scores only the keys each query block can
reach, where transformers (and our dense ``sdpa`` reference, reported alongside)
score every pair under a mask. The run with ``compile=True`` (torch.compile per
block) is reported too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).parent))
from common import best_of_interleaved, options, write_result

from cwm.core.checkpoint import hf
from cwm.core.model import FLAVORS, build_model

#: (batch, sequence length): a short context where the 256-token window barely
#: matters, and the tiny flavor's long-context regime (a window of 1/16 of the
#: 4096 context, CWM's local:global ratio), with the same tokens per step.
SETTINGS = {"short": (2, 512), "long": (1, 2048)}
REPEAT = 7
#: one thread per contender: on a small shared machine, OpenMP threads stall at their
#: barriers whenever another process takes a core, and timings swing by 3x or more
THREADS = 1


def measure(batch: int, seq: int) -> dict[str, float]:
    config = FLAVORS["tiny"]
    ours = build_model(config, seed=0)
    dense = build_model(config, seed=0)
    dense.set_attention("sdpa")
    compiled = build_model(config, seed=0)
    compiled.compile_blocks()
    theirs = transformers.CwmForCausalLM(
        transformers.CwmConfig(**hf.config_to_hf(config, torch.float32))
    )
    theirs.config._attn_implementation = "sdpa"
    theirs.load_state_dict({hf.to_hf_name(k): v for k, v in ours.state_dict().items()})
    tokens = torch.randint(
        0, config.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        torch.testing.assert_close(ours(tokens), theirs(tokens).logits, atol=1e-4, rtol=0)

    def step(model: torch.nn.Module, logits_of) -> None:  # a loss that reads every logit
        model.zero_grad(set_to_none=True)
        logits_of(model(tokens)).logsumexp(-1).mean().backward()

    times = best_of_interleaved(
        {
            "ours": lambda: step(ours, lambda out: out),
            "ours_dense_sdpa": lambda: step(dense, lambda out: out),
            "ours_compiled": lambda: step(compiled, lambda out: out),
            "transformers": lambda: step(theirs, lambda out: out.logits),
        },
        repeat=REPEAT,
    )
    n = batch * seq
    return {
        "batch": batch,
        "seq_len": seq,
        "ours_tokens_per_s": n / times["ours"],
        "ours_dense_sdpa_tokens_per_s": n / times["ours_dense_sdpa"],
        "ours_compiled_tokens_per_s": n / times["ours_compiled"],
        "transformers_tokens_per_s": n / times["transformers"],
        "speedup": times["transformers"] / times["ours"],
        "dense_sdpa_speedup": times["transformers"] / times["ours_dense_sdpa"],
        "compiled_speedup": times["transformers"] / times["ours_compiled"],
    }


def main() -> None:
    global SETTINGS, REPEAT
    args = options(__doc__, "1 x 64 tokens, one round")
    if args.quick:
        SETTINGS, REPEAT = {"quick": (1, 64)}, 1
    torch.set_num_threads(THREADS)
    config = FLAVORS["tiny"]
    results = {name: measure(*shape) for name, shape in SETTINGS.items()}
    write_result(
        "model",
        {
            "flavor": "tiny",
            "local_window": config.local_window,
            "attention": config.attention,
            "threads": torch.get_num_threads(),
            "transformers_version": transformers.__version__,
            "settings": results,
            "goal": "speedup >= 1.0 in every setting",
            "passed": all(r["speedup"] >= 1.0 for r in results.values()),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
