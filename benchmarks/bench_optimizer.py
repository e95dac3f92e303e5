"""AdamW's step on CPU: the fused kernel cwm-train uses against torch's own CPU default.

On CPU torch's AdamW defaults to a Python loop over the parameters (its multi-tensor
``foreach`` path is the default on CUDA only). cwm-train's optimizer asks for the fused
kernel wherever the parameters are plain (or DTensor) floating tensors on CPU or CUDA.
Measured on one thread (as `cwm demo`'s and `cwm rl`'s processes run), on the `demo`
and `tiny` flavors with random gradients, contenders taking turns: milliseconds a step
and the ratio of the default loop's time to each. Also the share of a training step the
optimizer takes, against a forward and backward of the `demo` flavor measured here (8
rows of 300 tokens, the loss on every position, bf16 autocast where `cwm demo` takes it).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import best_of_interleaved, options, write_result

from cwm.core.model import build_model, flavor
from cwm.train.backends.cpu import CpuBackend

KINDS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def optimizer_steps(name: str, repeat: int) -> dict[str, float]:
    """Seconds of one AdamW step of each kind (the fastest of ``repeat``, taking turns)."""
    model = build_model(flavor(name), seed=0)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    steps = {k: torch.optim.AdamW(params, lr=1e-3, **kw).step for k, kw in KINDS.items()}
    return best_of_interleaved(steps, repeat)


def demo_step(quick: bool) -> float:
    """Seconds of the demo's forward and backward (no optimizer) on 8 rows of 300 tokens."""
    model = build_model(flavor("demo"), seed=0)
    backend = CpuBackend(bf16="auto")
    rows = torch.randint(0, model.config.vocab_size, (2 if quick else 8, 301))

    def step() -> None:
        with backend.autocast():
            logits = model(rows[:, :-1]).float()
        F.cross_entropy(logits.flatten(0, 1), rows[:, 1:].flatten()).backward()

    step()
    start = time.perf_counter()
    for _ in range(2 if quick else 5):
        step()
    return (time.perf_counter() - start) / (2 if quick else 5)


def main() -> None:
    args = options(__doc__, "2 repeats, 2 rows")
    torch.set_num_threads(1)
    repeat = 2 if args.quick else 15
    result: dict = {"torch_threads": 1, "quick": args.quick, "flavors": {}}
    for name in ("demo", "tiny"):
        seconds = optimizer_steps(name, repeat)
        result["flavors"][name] = {
            "parameters": sum(p.numel() for p in build_model(flavor(name)).parameters()),
            "ms_per_step": {k: round(v * 1e3, 2) for k, v in seconds.items()},
            "speedup_over_loop": {k: round(seconds["loop"] / v, 2) for k, v in seconds.items()},
        }
    forward_backward = demo_step(args.quick)
    demo = result["flavors"]["demo"]["ms_per_step"]
    result["demo_training_step"] = {
        "forward_backward_ms": round(forward_backward * 1e3, 1),
        "optimizer_share_loop": round(demo["loop"] / (forward_backward * 1e3 + demo["loop"]), 4),
        "optimizer_share_fused": round(demo["fused"] / (forward_backward * 1e3 + demo["fused"]), 4),
    }
    result["goal"] = "fused at least 2x the loop on both flavors"
    write_result("optimizer", result, args.out)


if __name__ == "__main__":
    main()
