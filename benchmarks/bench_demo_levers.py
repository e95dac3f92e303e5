"""`cwm demo`'s levers, measured so that other jobs on the machine do not decide.

- throughput: the demo's training step in fp32, in bf16 autocast (attention in fp32,
  the banded backend's CPU default), in bf16 with bf16 attention too, and in bf16 with
  compiled blocks, same batches, taking turns, one thread each, timed in process CPU
  seconds (what a busy shared machine does to wall time does not count); the results
  are tokens/s ratios, and the first step's wall time (a compiled model compiles then).
- learning: variants of the demo's training config, each trained for the same number of
  steps (a step schedule, no time budget) from the same initialization, then scored with
  the demo's own scorer (teacher-forced greedy next-frame exact match, token accuracy,
  loss) on the demo's held-out calls and unseen functions (at most EVAL_FRAMES each).

The dataset is built once, as the demo builds it, into ``--data`` and reused.

    uv run python benchmarks/bench_demo_levers.py --data /tmp/demo-data --steps 150
    uv run python benchmarks/bench_demo_levers.py --variants fp32,bf16,lr6e-3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, add_out_argument, add_quick_argument, check_quick, write_result

from cwm.core.config import load_config, merge, to_dict
from cwm.core.io import read_records
from cwm.core.model import flavor
from cwm.core.tokenizer import Tokenizer
from cwm.train.config import TrainConfig
from cwm.train.demo.dataset import build_traces, functions_for
from cwm.train.demo.evaluate import frame_traces, score_model
from cwm.train.demo.run import EVAL_FRAMES, FLAVOR, SEQ_LEN, demo_config
from cwm.train.demo.split import split_calls
from cwm.train.trainer import Trainer

VOCAB = flavor(FLAVOR).vocab  # the demo's: its datasets and evaluation encode with it
FP32 = {"hardware": {"options": {"bf16": False}}}
BF16 = {"hardware": {"options": {"bf16": True}}}
#: name -> changes to the demo's training config
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": FP32,
    "bf16": BF16,
    "bf16-lr2e-3": merge(BF16, {"optim": {"lr": 2e-3}}),
    "bf16-lr5e-3": merge(BF16, {"optim": {"lr": 5e-3}}),
    "bf16-batch4": merge(BF16, {"data": {"batch_size": 4}}),
    "bf16-batch16": merge(BF16, {"data": {"batch_size": 16}}),
    "bf16-compiled": merge(BF16, {"model": {"compile": True, "compile_strict": True}}),
    # the banded backend's attention in bf16 too, as before cwm-core 0.5.0
    "bf16-attention-bf16": BF16,
}
#: what a variant changes in the built model, beyond its config
MODEL_CHANGES = {"bf16-attention-bf16": lambda model: setattr(model.backend, "fp32_on_cpu", False)}
#: throughput contenders: the baseline first
THROUGHPUT = ("fp32", "bf16", "bf16-attention-bf16", "bf16-compiled")


def dataset(root: Path, budget: float) -> tuple[Path, Path, Path]:
    """(training traces, held-out calls, held-out functions), built as the demo does."""
    data, calls = root / "data", root / "calls"
    if not (calls / "heldout" / "traces.jsonl").exists():
        build_traces(data, max_functions=functions_for(budget), vocab=VOCAB, seed=0, progress=True)
        split_calls(data / "train", calls, seed=0)
    return calls / "train" / "traces.jsonl", calls / "heldout" / "traces.jsonl", data / "heldout"


def trainer(run_dir: Path, traces: Path, steps: int, changes: dict[str, Any]) -> Trainer:
    base = to_dict(demo_config(run_dir, traces, 0.0, 0))
    fixed = {
        "steps": steps,
        "time_budget": 0.0,
        "metrics": {"progress": False},
        "checkpoint": {"final": False},
    }
    cfg = load_config(TrainConfig, preset=merge(merge(base, fixed), changes))
    return Trainer(cfg, progress=False)


def variant(run_dir: Path, traces: Path, steps: int, name: str) -> Trainer:
    t = trainer(run_dir, traces, steps, VARIANTS[name])
    MODEL_CHANGES.get(name, lambda model: None)(t.model)
    return t


def throughput(root: Path, traces: Path, rounds: int, steps: int) -> dict[str, Any]:
    contenders = {name: variant(root / name, traces, 10**6, name) for name in THROUGHPUT}
    done = {name: [0, 0.0] for name in contenders}
    warmup = {}
    for name, t in contenders.items():
        start = time.perf_counter()
        t.train_step(0, 10**6)  # warm-up (compiled: the compilation)
        warmup[name] = time.perf_counter() - start
    for _ in range(rounds):
        for name, t in contenders.items():
            for s in range(steps):
                start = time.process_time()
                record = t.train_step(1 + s, 10**6)
                done[name][0] += record["tokens"]
                done[name][1] += time.process_time() - start
    rate = {name: tokens / seconds for name, (tokens, seconds) in done.items()}
    return {
        "tokens_per_cpu_s": rate,
        "bf16_over_fp32": rate["bf16"] / rate["fp32"],
        "fp32_attention_over_bf16_attention": rate["bf16"] / rate["bf16-attention-bf16"],
        "compiled_over_bf16": rate["bf16-compiled"] / rate["bf16"],
        "first_step_wall_s": warmup,
        "rounds": rounds,
        "steps_a_round": steps,
    }


def learning(root: Path, paths: tuple[Path, Path, Path], steps: int, names: list[str]) -> dict:
    tok = Tokenizer(VOCAB)
    sets = {
        name: frame_traces(tok, read_records(p), max_tokens=SEQ_LEN + 1, max_frames=EVAL_FRAMES)
        for name, p in (("calls", paths[1]), ("functions", paths[2]))
    }
    out = {}
    for name in names:
        t = variant(root / name, paths[0], steps, name)
        started = time.process_time()
        summary = t.run()
        model = t.model.eval()
        out[name] = {
            "changes": VARIANTS[name],
            "steps": summary["steps"],
            "tokens": summary["tokens"],
            "final_train_loss": summary["loss"],
            "train_cpu_s": time.process_time() - started,
            **{held: score_model(model, traces) for held, traces in sets.items()},
        }
        print(name, out[name], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    add_quick_argument(parser, "30 steps, two variants, a 150-function dataset")
    add_out_argument(parser)
    parser.add_argument("--data", type=Path, default=Path("/tmp/cwm-demo-levers"))
    parser.add_argument("--steps", type=int, default=150, help="training steps a variant")
    parser.add_argument("--variants", default="fp32,bf16", help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    check_quick(parser, args)
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    torch.set_num_threads(1)  # one core each: CPU seconds then mean the same on a busy machine
    steps = 30 if args.quick else args.steps
    paths = dataset(args.data, 37.5 if args.quick else 600.0)
    work = args.data / "runs"
    result: dict[str, Any] = {"steps": steps, "data": str(args.data), "threads": 1}
    if not args.skip_throughput:
        result["throughput"] = throughput(work, paths[0], 1 if args.quick else 3, 5)
    result["learning"] = learning(work, paths, steps, names)
    write_result("demo_levers", result, args.out if args.out else RESULTS)


if __name__ == "__main__":
    main()
