"""Training throughput of the ~1B flavor on one GPU: bf16 (``cuda``) and FP8 (``h100-fp8``).

Goals (issue 5), on an H100/H200: MFU >= 40% in bf16; FP8 tokens/s >= 1.2x bf16.
Both runs use the trainer itself (`cwm.train.trainer.Trainer`): FlexAttention
(compiled BlockMask), torch.compile per block, packed rows of standard-library
sources; MFU is against the GPU's dense bf16 peak (for FP8 too, as torchtitan
reports it). The first steps (compilation) are left out of the throughput.

    python benchmarks/bench_train_gpu.py                      # writes results/train_gpu.json
    python benchmarks/bench_train_gpu.py --recipe tensorwise --seq-len 4096 --batch 4
    python benchmarks/bench_train_gpu.py --dry-run            # the wiring, on CPU, debug flavor

Not run here: this project's machine has no GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import add_out_argument, add_quick_argument, check_quick, skip, write_result

from cwm.core.config import load_config
from cwm.core.io import write_records
from cwm.core.schemas import Document
from cwm.train.config import TrainConfig
from cwm.train.metrics import read_metrics
from cwm.train.trainer import Trainer


def documents(path: Path) -> Path:
    lib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(lib.glob("*.py"))
    write_records(path, [Document(id=str(p), text=p.read_text(errors="replace")) for p in files])
    return path


def run(root: Path, docs: Path, name: str, backend: str, options: dict[str, Any],
        args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    model = {"flavor": args.flavor, "attention": "flex", "compile": True}
    if args.dry_run:
        model = {"flavor": "debug"}
    cfg = load_config(TrainConfig, preset={
        "run_dir": str(root / name), "steps": args.steps, "model": model,
        "data": {"sources": [{"path": str(docs)}], "seq_len": args.seq_len,
                 "batch_size": args.batch, "mode": "pack", "long": "split"},
        "optim": {"lr": 3e-4, "warmup_steps": 10},
        "checkpoint": {"final": False, "resume": False},
        "parallel": {"activation_checkpointing": args.ac},
        "hardware": {"backend": backend, "options": options},
    })  # fmt: skip
    summary = Trainer(cfg).run()
    steps = [r for r in read_metrics(root / name) if "loss" in r][args.warmup :]
    tps = statistics.median(r["tokens_per_s"] for r in steps)
    mfu = [r["mfu"] for r in steps if r.get("mfu") is not None]
    memory = max((r.get("max_allocated_gib", 0.0) for r in steps), default=0.0)
    return {
        "tokens_per_s": tps,
        "mfu": statistics.median(mfu) if mfu else None,
        "max_allocated_gib": memory,
        "final_loss": summary["loss"],
        "hardware": summary["hardware"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flavor", default="1b")
    parser.add_argument("--seq-len", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10, help="steps left out (compilation)")
    parser.add_argument(
        "--recipe", default="rowwise", help="FP8 recipe: tensorwise, rowwise, rowwise_with_gw_hp"
    )
    parser.add_argument("--ac", action="store_true", help="activation checkpointing")
    parser.add_argument("--dry-run", action="store_true", help="CPU, debug flavor, FP8 emulated")
    add_quick_argument(parser, "debug flavor, 3 steps")
    add_out_argument(parser)
    args = parser.parse_args()
    check_quick(parser, args)
    if args.quick:
        if not torch.cuda.is_available():
            skip("train_gpu", "no CUDA GPU")
        args.flavor, args.seq_len, args.batch, args.steps, args.warmup = "debug", 128, 2, 3, 1
    if args.dry_run:
        args.seq_len, args.batch, args.steps, args.warmup = 128, 2, 3, 1
        bf16 = ("cpu", {})
        fp8 = ("h100-fp8", {"recipe": args.recipe, "emulate": True, "base": "cpu"})
    else:
        if not torch.cuda.is_available():
            raise SystemExit(
                "bench_train_gpu needs a CUDA GPU (or --dry-run to check the wiring on CPU)"
            )
        bf16 = ("cuda", {})
        fp8 = ("h100-fp8", {"recipe": args.recipe})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        docs = documents(root / "docs.jsonl")
        results = {
            "bf16": run(root, docs, "bf16", *bf16, args),
            "fp8": run(root, docs, "fp8", *fp8, args),
        }
    speedup = results["fp8"]["tokens_per_s"] / results["bf16"]["tokens_per_s"]
    result = {
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "none (dry run)",
        "flavor": "debug" if args.dry_run else args.flavor,
        "seq_len": args.seq_len, "batch": args.batch, "steps": args.steps, "recipe": args.recipe,
        "activation_checkpointing": args.ac,
        **results,
        "fp8_speedup": speedup,
        "goals": {"bf16_mfu": 0.40, "fp8_speedup": 1.2},
    }  # fmt: skip
    if args.dry_run:
        print(result)
    else:
        write_result("train_gpu", result, args.out)


if __name__ == "__main__":
    main()
