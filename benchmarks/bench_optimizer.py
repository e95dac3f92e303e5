"""AdamW's step on CPU: the fused kernel cwm-train uses against torch's own CPU default.

On CPU torch's AdamW defaults to a Python loop over the parameters (its multi-tensor
``foreach`` path is the default on CUDA only). cwm-train's optimizer asks for the fused
kernel wherever the parameters are plain (or DTensor) floating tensors on CPU or CUDA.
Measured on one thread (as `cwm rl`'s learner runs by default, ``cpu_threads = 1``), on
the `demo` and `tiny` flavors with random gradients, contenders taking turns:
milliseconds a step and the ratio of the default loop's time to each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import best_of_interleaved, options, write_result

from cwm.core.model import build_model, flavor

KINDS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def optimizer_steps(name: str, repeat: int) -> dict[str, float]:
    """Seconds of one AdamW step of each kind (the fastest of ``repeat``, taking turns)."""
    model = build_model(flavor(name), seed=0)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    steps = {k: torch.optim.AdamW(params, lr=1e-3, **kw).step for k, kw in KINDS.items()}
    return best_of_interleaved(steps, repeat)


def main() -> None:
    args = options(__doc__, "2 repeats")
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
    result["goal"] = "fused at least 2x the loop on both flavors"
    write_result("optimizer", result, args.out)


if __name__ == "__main__":
    main()
