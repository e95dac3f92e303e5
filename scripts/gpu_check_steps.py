"""The steps of `scripts/gpu-check`, one per call: ``python gpu_check_steps.py STEP OUT [--dry-run]``.

Each step writes ``OUT/STEP.json`` itself when it finishes (the driver adds its
status, time and log tail). ``--dry-run`` runs the same code on CPU: small
shapes, fp32 where CPU kernels need it, FP8 emulated, and flex forward only
(torch has no flex backward on CPU).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
#: timed runs per measurement (one in a dry run: CPU timings say nothing about the GPU)
REPEAT = [5]


def timed(fn: Callable[[], Any], device: str) -> float:
    """Median seconds of the timed runs after one warm-up (synchronized on CUDA)."""
    fn()
    times = []
    for _ in range(REPEAT[0]):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


# -- versions --------------------------------------------------------------------------


def versions(dry_run: bool) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in (
        "torch",
        "triton",
        "torchao",
        "flash-attn",
        "msgspec",
        "numpy",
        "transformers",
        "cwm-core",
        "cwm-data",
        "cwm-train",
        "cwm-serve",
        "cwm-rl",
    ):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages,
        "cuda_available": torch.cuda.is_available(),
        "torch_cuda": torch.version.cuda,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = {
            "name": props.name,
            "capability": list(torch.cuda.get_device_capability()),
            "memory_gib": props.total_memory / 2**30,
            "multiprocessors": props.multi_processor_count,
        }
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30)
        info["nvidia_smi"] = smi.stdout.splitlines()
    return info


# -- attention: flex against SDPA, and which SDPA kernel takes the decode calls ---------


def _packed_doc_ids(batch: int, seq: int, device: str) -> torch.Tensor:
    """Rows of documents of varied lengths, some longer than the local window."""
    g = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(batch):
        lengths: list[int] = []
        while sum(lengths) < seq:
            lengths.append(int(torch.randint(seq // 16, seq // 2, (1,), generator=g)))
        ids = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
        rows.append(ids[:seq])
    return torch.stack(rows).to(device)


def flex_vs_sdpa(dry_run: bool) -> dict[str, Any]:
    from cwm.core.model import FLAVORS
    from cwm.core.plugins import registry

    cfg = FLAVORS["tiny" if dry_run else "1b"]
    device, dtype = ("cpu", torch.float32) if dry_run else ("cuda", torch.bfloat16)
    batch, seq = (1, 384) if dry_run else (4, 4096)
    backward = not dry_run  # flex has no backward on CPU
    g = torch.Generator().manual_seed(0)
    shapes = [(batch, seq, h, cfg.head_dim) for h in (cfg.n_heads, cfg.n_kv_heads, cfg.n_kv_heads)]
    base = [torch.randn(s, generator=g) for s in shapes]
    cases = []
    for window in sorted({cfg.local_window, None}, key=lambda w: w or 0):
        for packed in (False, True):
            doc_ids = _packed_doc_ids(batch, seq, device) if packed else None
            outs, grads, seconds = {}, {}, {}
            for name in ("sdpa", "flex"):
                backend = registry("attention").create(name)
                mask = backend.prepare(
                    seq_len=seq, doc_ids=doc_ids, window=window, batch=batch, device=device
                )
                qkv = [t.to(device, dtype).requires_grad_(backward) for t in base]

                def step(backend: Any = backend, mask: Any = mask, qkv: list = qkv) -> Any:
                    out = backend(*qkv, mask)
                    if backward:
                        out.float().square().mean().backward()
                    return out

                with torch.set_grad_enabled(backward):
                    outs[name] = step().detach().float()
                    grads[name] = [t.grad.float().clone() for t in qkv] if backward else []
                    seconds[name] = timed(step, device)
            ref = outs["sdpa"]
            case = {
                "window": window,
                "packed": packed,
                "forward_max_abs_error": float((outs["flex"] - ref).abs().max()),
                "reference_max_abs": float(ref.abs().max()),
                "seconds": seconds,
                "flex_speedup": seconds["sdpa"] / seconds["flex"],
            }
            if backward:
                case["grad_max_abs_error"] = max(
                    float((a - b).abs().max()) for a, b in zip(grads["flex"], grads["sdpa"])
                )
            cases.append(case)
    # relative to the largest output: bf16 keeps about 3 significant digits
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    worst = max(c["forward_max_abs_error"] / c["reference_max_abs"] for c in cases)
    return {
        "shape": {
            "batch": batch,
            "seq": seq,
            "heads": cfg.n_heads,
            "kv_heads": cfg.n_kv_heads,
            "head_dim": cfg.head_dim,
            "dtype": str(dtype),
            "backward": backward,
        },
        "cases": cases,
        "sdpa_kernels_for_masked_decode": sdpa_kernels(cfg, device, dtype),
        "worst_relative_error": worst,
        "passed": worst <= tolerance,
    }


def sdpa_kernels(cfg: Any, device: str, dtype: torch.dtype) -> dict[str, Any]:
    """Which SDPA kernel accepts the engine's masked GQA decode call (64 rows of one query
    over 4096 gathered keys), and how fast each is."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    rows, keys = (8, 256) if device == "cpu" else (64, 4096)
    g = torch.Generator().manual_seed(0)
    q = torch.randn(rows, cfg.n_heads, 1, cfg.head_dim, generator=g).to(device, dtype)
    k = torch.randn(rows, cfg.n_kv_heads, keys, cfg.head_dim, generator=g).to(device, dtype)
    v = torch.randn_like(k)
    mask = (torch.arange(keys) < keys - 7).expand(rows, 1, 1, keys).to(device)
    found: dict[str, Any] = {}
    for kernel in ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION", "MATH"):
        for gqa in ("enable_gqa", "expanded"):
            kk, vv = k, v
            if gqa == "expanded":  # what repeating the KV heads would buy
                group = cfg.n_heads // cfg.n_kv_heads
                kk, vv = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)

            def call(kk: torch.Tensor = kk, vv: torch.Tensor = vv) -> torch.Tensor:
                return F.scaled_dot_product_attention(
                    q, kk, vv, attn_mask=mask, enable_gqa=kk.shape[1] != q.shape[1]
                )

            try:
                with sdpa_kernel([getattr(SDPBackend, kernel)]):
                    found[f"{kernel}/{gqa}"] = {"seconds": timed(call, device)}
            except RuntimeError as exc:
                found[f"{kernel}/{gqa}"] = {"error": str(exc).splitlines()[0][:200]}
    with torch.no_grad():
        found["default/enable_gqa"] = {"seconds": timed(lambda: call(k, v), device)}
    return found


# -- the trainer on the tiny flavor ---------------------------------------------------


def _documents(path: Path) -> Path:
    from cwm.core.io import write_records
    from cwm.core.schemas import Document

    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:200]
    write_records(path, [Document(id=p.name, text=p.read_text(errors="replace")) for p in files])
    return path


def _train(dry_run: bool, backend: str, options: dict[str, Any]) -> dict[str, Any]:
    from cwm.core.config import load_config
    from cwm.train.config import TrainConfig
    from cwm.train.metrics import read_metrics
    from cwm.train.trainer import Trainer

    # on CPU: the debug flavor, sdpa (flex has no CPU backward) and no inductor compile
    # (minutes on a laptop)
    model: dict[str, Any] = {
        "flavor": "tiny",
        "attention": "flex",
        "compile": True,
        "compile_strict": True,
    }
    seq_len = 512
    if dry_run:
        model, seq_len = {"flavor": "debug", "attention": "sdpa"}, 256
    with tempfile.TemporaryDirectory() as tmp:
        docs = _documents(Path(tmp) / "docs.jsonl")
        cfg = load_config(
            TrainConfig,
            preset={
                "run_dir": f"{tmp}/run",
                "steps": 8,
                "model": model,
                "data": {
                    "sources": [{"path": str(docs)}],
                    "seq_len": seq_len,
                    "batch_size": 4,
                    "long": "split",
                },
                "optim": {"lr": 1e-3, "warmup_steps": 2},
                "checkpoint": {"final": False, "resume": False},
                "metrics": {"progress": False},
                "hardware": {"backend": backend, "options": options},
            },
        )
        summary = Trainer(cfg).run()
        losses = [r["loss"] for r in read_metrics(Path(tmp) / "run") if "loss" in r]
    compiled = summary["model"]["compile"] == "compiled" or dry_run
    return {
        "losses": losses,
        "summary": summary,
        "passed": compiled and losses[-1] < losses[0],
    }


def train_cuda(dry_run: bool) -> dict[str, Any]:
    return _train(dry_run, "cpu" if dry_run else "cuda", {})


def train_fp8(dry_run: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"recipe": "rowwise"}
    if dry_run:
        options |= {"emulate": True, "base": "cpu"}
    return _train(dry_run, "h100-fp8", options)


# -- engine decode against greedy ------------------------------------------------------


def decode(dry_run: bool) -> dict[str, Any]:
    import msgspec

    from cwm.core.model import FLAVORS, build_model, greedy
    from cwm.serve.engine import EngineConfig, LLMEngine, SamplingParams

    device = "cpu" if dry_run else "cuda"
    # a short local window, so that every sequence crosses it
    shape = msgspec.structs.replace(
        FLAVORS["debug"], n_layers=4, window_pattern=4, local_window=32, global_window=1024
    )
    g = torch.Generator().manual_seed(0)
    prompts = [
        torch.randint(0, 16_000, (int(n),), generator=g).tolist()
        for n in torch.randint(8, 60, (3 if dry_run else 8,), generator=g)
    ]
    new = 40  # every sequence ends past the window
    runs = []
    for dtype in (torch.float32, torch.bfloat16):
        eager: list[list[int]] = []
        model = build_model(shape, device=device, dtype=dtype, seed=0).eval()
        reference = [greedy(model, torch.tensor([p], device=device), new)[0] for p in prompts]
        for graphs in (False, True):
            config = EngineConfig(kv_cache_mib=64, max_model_len=1024, cuda_graphs=graphs)
            engine = LLMEngine(model, config=config)
            if graphs and dry_run:
                _eager_replays(engine)
            params = SamplingParams(temperature=0, max_tokens=new, ignore_eos=True)
            outs = [
                o.outputs[0].token_ids for o in engine.generate(prompts, params, progress=False)
            ]
            first_diff = [
                next((i for i, (a, b) in enumerate(zip(o, r)) if a != b), None)
                for o, r in zip(outs, reference)
            ]
            eager = eager or outs
            runs.append(
                {
                    "dtype": str(dtype),
                    "cuda_graphs": engine.runner.graphs is not None,
                    "block_size": engine.blocks.block_size,
                    "flash": engine.runner.flash,
                    "equal": sum(d is None for d in first_diff),
                    "of": len(prompts),
                    "first_difference": first_diff,
                    "same_as_engine_without_graphs": outs == eager,
                    # where tokens part, how far apart the two were in the model's logits
                    "gaps": [
                        _logit_gap(model, p, o, r)
                        for p, o, r in zip(prompts, outs, reference)
                        if o != r
                    ],
                }
            )
    fp32 = [r for r in runs if r["dtype"] == "torch.float32"]
    bf16 = [r for r in runs if r["dtype"] == "torch.bfloat16"]
    return {
        "prompts": [len(p) for p in prompts],
        "new_tokens": new,
        "local_window": shape.local_window,
        "runs": runs,
        # fp32: token for token. bf16: kernels that differ (a graph's padded batch and key
        # span, greedy's dense cache) round differently, and a random model's near-flat
        # logits then flip an argmax; a difference passes only where it is such a tie
        "passed": all(r["equal"] == r["of"] and r["same_as_engine_without_graphs"] for r in fp32)
        and all(g["relative"] <= BF16_TIE for r in bf16 for g in r["gaps"]),
    }


#: a bf16 argmax flip is a rounding tie when the two logits are this close, relative to
#: the largest logit (bf16 keeps about 3 significant digits; as in flex_vs_sdpa)
BF16_TIE = 2e-2


def _logit_gap(model: Any, prompt: list[int], out: list[int], ref: list[int]) -> dict[str, Any]:
    """At the first token where ``out`` and ``ref`` part: the two tokens' logits under one
    fp32 forward of the common prefix, and their gap relative to the largest logit."""
    at = next(i for i, (a, b) in enumerate(zip(out, ref)) if a != b)
    device = next(model.parameters()).device
    with torch.no_grad():
        exact = copy.deepcopy(model).float()
        logits = exact(torch.tensor([prompt + ref[:at]], device=device))[0, -1]
    gap = float((logits[ref[at]] - logits[out[at]]).abs())
    return {"at": at, "gap": gap, "relative": gap / float(logits.abs().max())}


def _eager_replays(engine: Any) -> None:
    """On CPU, decode graphs whose 'replay' runs the same forward over the same static
    buffers (what the CUDA graph would replay)."""
    from cwm.serve.engine.cuda_graphs import DecodeGraphs

    class Replay:
        def __init__(self, graphs: DecodeGraphs, b: int, span: int):
            self.graphs, self.b, self.span = graphs, b, span

        def replay(self) -> None:
            self.graphs._forward(self.b, self.span)

    class CpuGraphs(DecodeGraphs):
        def _capture(self) -> None:
            for span in range(len(self.spans)):
                self._reset(0, span)
            self.graphs = {
                (b, s): Replay(self, b, s)  # type: ignore[misc]
                for b in self.sizes
                for s in range(len(self.spans))
            }

    engine.runner.graphs = CpuGraphs(engine.runner, 8, spans=[256, 1024])


# -- where the time of the missed goals goes ---------------------------------------------


def decode_profile(dry_run: bool) -> dict[str, Any]:
    """Batch-1 decode of the 1b flavor, split into its parts: a whole engine step, the
    decode graph's replay alone (the GPU's share), the output head and the host-side
    layout; and the profiler's top ops over 16 steps, by host and by GPU time."""
    from torch.profiler import ProfilerActivity, profile

    from cwm.core.model import FLAVORS, build_model
    from cwm.serve.engine import EngineConfig, LLMEngine, SamplingParams

    flavor, device, dtype = (
        ("debug", "cpu", torch.float32) if dry_run else ("1b", "cuda", torch.bfloat16)
    )
    model = build_model(FLAVORS[flavor], device=device, dtype=dtype, seed=0).eval()
    engine = LLMEngine(
        model, config=EngineConfig(kv_cache_mib=64 if dry_run else 4096, max_num_seqs=8)
    )
    if dry_run:
        _eager_replays(engine)
    prompt = torch.randint(0, 16_000, (256,), generator=torch.Generator().manual_seed(0)).tolist()
    params = SamplingParams(temperature=0, max_tokens=200, ignore_eos=True)
    engine.add_request(None, prompt, params)
    for _ in range(8):  # prefill and warm-up
        engine.step()
    seq = next(iter(engine.requests.values())).seqs[0]
    runner = engine.runner

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    steps = 8 if dry_run else 64
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        engine.step()
    sync()
    step_s = (time.perf_counter() - start) / steps
    activities = [ProfilerActivity.CPU] + [ProfilerActivity.CUDA] * (device == "cuda")
    with profile(activities=activities) as prof:
        for _ in range(16):
            engine.step()
        sync()
    averages = prof.key_averages()
    sorts = ["cpu", "cuda"] if device == "cuda" else ["cpu"]
    tables = {
        by: averages.table(sort_by=f"self_{by}_time_total", row_limit=25).splitlines()
        for by in sorts
    }
    # the parts of one more step, timed apart; the last thing done (the step is left
    # scheduled and never run)
    batch = engine.scheduler.schedule()
    parts: dict[str, Any] = {
        "engine_step_s": step_s,
        "layout_s": timed(lambda: runner.layout(batch), device),
    }
    layout, _, _ = runner.layout(batch)
    graphs = runner.graphs
    if graphs is not None and graphs.fits(layout):
        span = graphs.span_for(layout.rows[0])
        parts["graph_run_s"] = timed(lambda: graphs.run(layout), device)  # copies + replay
        parts["graph_replay_s"] = timed(lambda: graphs.graphs[1, span].replay(), device)
        hidden = graphs.hidden[:1]
        with torch.inference_mode():
            parts["output_head_s"] = timed(lambda: model.output(hidden).float(), device)
    weight_bytes = sum(t.numel() * t.element_size() for t in model.parameters())
    return {
        "flavor": flavor,
        "dtype": str(dtype),
        "context_tokens": len(seq),
        "weight_gib": weight_bytes / 2**30,
        "parts_s": parts,
        "weights_read_at_4_8_tb_s": weight_bytes / 4.8e12,
        "profile_by_host_time": tables["cpu"],
        "profile_by_gpu_time": tables.get("cuda", []),
    }


def fp8_linears(dry_run: bool) -> dict[str, Any]:
    """Forward + backward of the 1b flavor's linear shapes at 16k tokens, compiled: bf16
    against torchao's FP8 recipes, so the FP8 goal can be read per matmul."""
    from torchao import float8

    from cwm.core.model import FLAVORS

    cfg = FLAVORS["debug" if dry_run else "1b"]
    device, dtype = ("cpu", torch.float32) if dry_run else ("cuda", torch.bfloat16)
    tokens = 256 if dry_run else 16_384
    q = cfg.n_heads * cfg.head_dim
    kv = 2 * cfg.n_kv_heads * cfg.head_dim
    shapes = {
        "wq": (cfg.dim, q),
        "wkv": (cfg.dim, kv),
        "wo": (q, cfg.dim),
        "w1+w3": (cfg.dim, 2 * cfg.ffn_dim),
        "w2": (cfg.ffn_dim, cfg.dim),
    }
    results: dict[str, Any] = {}
    for name, (fan_in, fan_out) in shapes.items():
        x = torch.randn(tokens, fan_in, device=device, dtype=dtype, requires_grad=True)
        row: dict[str, Any] = {"shape": [tokens, fan_in, fan_out]}
        for recipe in ("bf16", "tensorwise", "rowwise"):
            torch._dynamo.reset()  # 15 compiles of one frame: stay under the recompile limit
            layer = torch.nn.Sequential(torch.nn.Linear(fan_in, fan_out, bias=False))
            layer = layer.to(device, dtype)
            if recipe != "bf16":
                config = float8.Float8LinearConfig.from_recipe_name(recipe)
                if dry_run:
                    config = dataclasses.replace(config, emulate=True)
                float8.convert_to_float8_training(layer, config=config)
            fn = torch.compile(layer) if not dry_run else layer

            def step(fn: Any = fn, x: torch.Tensor = x) -> None:
                fn(x).sum().backward()

            row[recipe] = timed(step, device)
        row["tensorwise_speedup"] = row["bf16"] / row["tensorwise"]
        row["rowwise_speedup"] = row["bf16"] / row["rowwise"]
        results[name] = row
    return {"tokens": tokens, "dtype": str(dtype), "linears": results}


# -- the benchmarks, shortened ---------------------------------------------------------


def _bench(args: list[str], out: Path) -> None:
    """Run a benchmark script that writes ``out`` itself, as each of its parts finishes."""
    script, *rest = args
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *rest, "--out", str(out.parent)]
    )
    if proc.returncode:
        raise SystemExit(proc.returncode)


def train_gpu(dry_run: bool, out: Path) -> None:
    """bench_train_gpu, shortened: bf16, then FP8."""
    _bench(["bench_train_gpu.py", "--steps", "12", "--warmup", "4"] + ["--dry-run"] * dry_run, out)


def serve_gpu(dry_run: bool, out: Path) -> None:
    """bench_serve's GPU variant."""
    _bench(["bench_serve.py", "--gpu"] + ["--dry-run"] * dry_run, out)


def rl_gpu(dry_run: bool, out: Path) -> None:
    """bench_rl's GPU variant: the embedded RL runs, learner and engine on the GPU."""
    _bench(["bench_rl.py", "--gpu"] + ["--dry-run"] * dry_run, out)


STEPS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "versions": versions,
    "flex_vs_sdpa": flex_vs_sdpa,
    "train_cuda": train_cuda,
    "train_fp8": train_fp8,
    "decode": decode,
    "decode_profile": decode_profile,
    "fp8_linears": fp8_linears,
}
#: benchmark scripts, which write OUT (their own result file, named as the step) themselves
BENCHES: dict[str, Callable[[bool, Path], None]] = {
    "train_gpu": train_gpu,
    "serve-gpu": serve_gpu,
    "rl-gpu": rl_gpu,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=[*STEPS, *BENCHES])
    parser.add_argument("out", type=Path, help="the JSON file this step writes")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible; use --dry-run to run the steps on CPU")
    if args.dry_run:
        REPEAT[0] = 1
    if args.step in BENCHES:
        BENCHES[args.step](args.dry_run, args.out)
        return
    result = STEPS[args.step](args.dry_run)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    if not result.get("passed", True):
        raise SystemExit(f"{args.step}: did not pass; see {args.out}")


if __name__ == "__main__":
    main()
