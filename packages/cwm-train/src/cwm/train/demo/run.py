"""The main job: traces from real code -> a trained small model -> next-frame evaluation.

Phases, inside one time budget: build a trace dataset of standard-library
functions (``cwm data build``), hold out a tenth of the training calls
(`cwm.train.demo.split`), train the ``demo`` flavor on CPU for what the budget
leaves after reserving the evaluation, score the held-out calls and the
held-out functions for the trained model, the untrained one and the
copy-previous-frame baseline, and write ``report.json``, ``loss.png`` and
``summary.md`` into the output directory.
"""

from __future__ import annotations

import platform
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from cwm.core.config import load_config, to_dict
from cwm.core.io import read_records
from cwm.core.model import build_model, flavor
from cwm.core.tokenizer import Tokenizer
from cwm.train.config import TrainConfig
from cwm.train.demo.dataset import build_traces, functions_for
from cwm.train.demo.evaluate import frame_traces, greedy_frame, score_copy_previous, score_model
from cwm.train.demo.probe import PROBE_FRAMES, ExactMatchProbe
from cwm.train.demo.split import split_calls
from cwm.train.trainer import Trainer

#: the demo flavor's vocabulary (cwm-code-4k) and context: 300 of its tokens hold about
#: the trace text that 256 tokens of the 16k vocabulary hold
FLAVOR = "demo"
SEQ_LEN = 300
#: frames scored per held-out set; the evaluation's time is reserved from the budget
EVAL_FRAMES = 1000
EVAL_SECONDS = 38.0  # it takes 25-34 s on 2 cores: the rest of the budget trains


def demo_config(
    run_dir: Path, traces: Path, train_budget: float, seed: int, loggers: Sequence[str] = ("jsonl",)
) -> TrainConfig:
    """The demo's training run: demo flavor, traces only, loss on the frames."""
    preset = {
        "run_dir": str(run_dir),
        "seed": seed,
        "steps": 100_000,  # the time budget decides
        "time_budget": train_budget,
        "model": {"flavor": FLAVOR},
        "data": {
            "sources": [{"path": str(traces), "mask": "after_prompt"}],
            "seq_len": SEQ_LEN,
            "batch_size": 8,
            "mode": "pack",
            "long": "truncate",
        },
        "optim": {"lr": 3e-3, "warmup_steps": 30, "min_lr_ratio": 0.05},
        "checkpoint": {"keep": 1, "resume": False},
        # bf16 autocast where it pays: 1.6x the fp32 tokens/s on an AMD EPYC, 0.7x on an
        # Intel Xeon without AMX; same loss at equal steps (benchmarks/bench_demo_levers.py)
        "hardware": {"backend": "cpu", "options": {"bf16": "auto"}},
        "logging": {"backends": list(dict.fromkeys(["jsonl", *loggers]))},  # the report reads jsonl
    }
    return load_config(TrainConfig, preset=preset)


def run_demo(
    out: Path,
    time_budget: float,
    *,
    seed: int = 0,
    progress: bool = True,
    echo: Any = print,
    loggers: Sequence[str] = ("jsonl",),
) -> dict[str, Any]:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    echo(f"[1/3] building a trace dataset from the standard library into {out / 'data'}")
    t = time.perf_counter()
    data = build_traces(
        out / "data",
        max_functions=functions_for(time_budget),
        vocab=flavor(FLAVOR).vocab,
        seed=seed,
        progress=progress,
    )
    train, heldout_calls = split_calls(data / "train", out / "calls", seed=seed)
    timings["data_build"] = time.perf_counter() - t

    train_budget = time_budget - (time.perf_counter() - started) - EVAL_SECONDS
    echo(f"[2/3] training the {FLAVOR} model on CPU for ~{max(train_budget, 0):.0f} s")
    run_dir = out / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, not a resumed one
    t = time.perf_counter()
    cfg = demo_config(run_dir, train, max(train_budget, 10.0), seed, loggers)
    trainer = Trainer(cfg, progress=progress)
    tok = Tokenizer.for_model(trainer.model.config)
    probe = ExactMatchProbe(
        trainer.model,
        frame_traces(
            tok, read_records(heldout_calls), max_tokens=SEQ_LEN + 1, max_frames=PROBE_FRAMES
        ),
        cfg.time_budget,
    )
    summary = trainer.run(on_step=probe)
    timings["train"] = time.perf_counter() - t

    echo("[3/3] evaluating next-frame prediction on held-out calls and held-out functions")
    t = time.perf_counter()
    probe.score(probe.step, probe.wall)  # the curve's last point: the trained model
    trained = trainer.model.eval()
    untrained = build_model(trained.config, seed=seed).eval()
    scores = {}
    for name, path in (("calls", heldout_calls), ("functions", data / "heldout")):
        traces = frame_traces(
            tok, read_records(path), max_tokens=SEQ_LEN + 1, max_frames=EVAL_FRAMES
        )
        scores[name] = {
            "traces": traces,
            "trained": score_model(trained, traces, tok),
            "untrained": score_model(untrained, traces, tok),
            "copy_previous": score_copy_previous(traces, tok),
        }
    examples = _examples(trained, tok, scores["calls"]["traces"])
    timings["evaluate"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started
    calls, functions = _table(scores["calls"]), _table(scores["functions"])
    calls["heldout"]["what"] = (
        "calls held out from training (their functions were seen through other calls)"
    )
    functions["what"] = "functions held out by cwm data build (never seen in training)"
    return {
        **calls,
        "unseen_functions": functions,
        "exact_match_over_time": probe.report(),
        "training": summary,
        "dataset": _dataset_stats(data),
        "timings_s": timings,
        "time_budget_s": time_budget,
        "examples": examples,
        "config": to_dict(trainer.cfg),
        "machine": _machine(),
    }


def _table(scores: dict[str, Any]) -> dict[str, Any]:
    models = ("trained", "untrained", "copy_previous")
    return {
        "next_frame_exact_match": {m: scores[m]["next_frame_exact_match"] for m in models},
        "token_accuracy": {m: scores[m]["token_accuracy"] for m in models},
        # which part of the frames was right: the state computed, the line found and copied
        "state_exact_match": {m: scores[m]["state_exact_match"] for m in models},
        "line_exact_match": {m: scores[m]["line_exact_match"] for m in models},
        "heldout_loss": {m: scores[m]["loss"] for m in ("trained", "untrained")},
        "heldout": {"traces": len(scores["traces"]), "frames": scores["trained"]["frames"]},
    }


def _examples(
    model: torch.nn.Module, tok: Tokenizer, traces: list, n: int = 3
) -> list[dict[str, Any]]:
    """A few held-out frames decoded greedily (KV cache), next to the true ones."""
    out = []
    for ft in traces[:: max(1, len(traces) // n)][:n]:
        start, end = ft.frames[min(1, len(ft.frames) - 1)]
        predicted = greedy_frame(model, tok, ft.ids[:start], max_new=end - start + 16)
        out.append(
            {
                "trace": ft.id,
                "true": tok.decode(ft.ids[start:end]),
                "predicted": tok.decode(predicted),
            }
        )
    return out


def _dataset_stats(data: Path) -> dict[str, Any]:
    import json

    stats = json.loads((data / "stats.json").read_text())
    splits = stats.get("splits", {})
    return {
        "path": str(data),
        "traces": {name: s.get("traces") for name, s in splits.items()},
        "functions": stats.get("all", {}).get("functions"),
        "frames_per_trace": stats.get("all", {}).get("frames_per_trace"),
        "token_length": stats.get("all", {}).get("token_length"),
    }


def _machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
