"""The serving engine against Hugging Face transformers `generate`, same weights, same run.

CPU (always): the tiny flavor, 16 concurrent requests (prompts of 32-96 tokens,
128 greedy new tokens each, all arriving at once). Baselines, both on the HF
export of the same weights (`save_checkpoint(..., format="hf")` ->
`CwmForCausalLM.from_pretrained`):

- `hf_sequential`: `generate` one request at a time (what a server built on
  `generate` without batching does); a request's latency includes its wait.
- `hf_batched`: one `generate` call over all 16 prompts, left-padded to the
  longest, with an attention mask (static batching: every request waits for the
  whole batch).

Goal: engine tokens/s >= 3x transformers generate (sequential). Also reported: the
engine on the same weights in bf16 (`--dtype bfloat16`), against fp32.

Memory: KV bytes per cached token of one sequence at 4x the local window of the
tiny flavor (3:1 local:global), with and without window-aware block freeing.

GPU (only when CUDA is available; skipped otherwise): the 1b flavor in bf16, 64
concurrent requests against HF generate (batched), goal >= 5x, and batch-1
decode tokens/s against the memory-bandwidth limit (weights + KV read per
token), goal >= 60%.

    python benchmarks/bench_serve.py                     # CPU, then GPU if there is one
    python benchmarks/bench_serve.py --gpu --out DIR     # the GPU variant alone -> DIR/serve-gpu.json
    python benchmarks/bench_serve.py --gpu --dry-run     # its wiring on CPU (tiny flavor, fp32)
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import torch
import transformers

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    RESULTS,
    add_out_argument,
    add_quick_argument,
    check_quick,
    write_result,
)

from cwm.core.checkpoint import save_checkpoint
from cwm.core.model import FLAVORS, build_model
from cwm.serve.engine import EngineConfig, LLMEngine, SamplingParams

N_REQUESTS, NEW_TOKENS = 16, 128
#: peak HBM bandwidth (bytes/s) of the GPUs the issue names
BANDWIDTH = {"H100": 3.35e12, "H200": 4.8e12}


def prompts(n: int, low: int, high: int, seed: int = 0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randint(0, 16_000, (int(k),), generator=g).tolist()
        for k in torch.randint(low, high + 1, (n,), generator=g)
    ]


def run_engine(engine: LLMEngine, batch: list[list[int]], new: int) -> dict[str, Any]:
    params = SamplingParams(temperature=0, max_tokens=new, ignore_eos=True)
    start = time.perf_counter()
    ids = [engine.add_request(None, p, params) for p in batch]
    seqs = {i: engine.requests[i].seqs[0] for i in ids}
    done: dict[str, float] = {}
    outputs: dict[str, list[int]] = {}
    while engine.has_unfinished():
        for out in engine.step():
            if out.finished:
                done[out.request_id] = time.perf_counter() - start
                outputs[out.request_id] = out.outputs[0].token_ids
    wall = time.perf_counter() - start
    ttft = [seqs[i].first_token_time - start for i in ids]  # type: ignore[operator]
    return {
        "tokens_per_s": len(batch) * new / wall,
        "wall_s": wall,
        "latency_median_s": median(done.values()),
        "latency_max_s": max(done.values()),
        "ttft_median_s": median(ttft),
        # after the last prompt is in: the decode phase alone
        "decode_tokens_per_s": len(batch) * (new - 1) / (wall - max(ttft)),
        "outputs": [outputs[i] for i in ids],
    }


@torch.inference_mode()
def run_hf_sequential(hf: Any, batch: list[list[int]], new: int) -> dict[str, Any]:
    start = time.perf_counter()
    latencies, outputs = [], []
    for p in batch:
        out = hf.generate(
            torch.tensor([p], device=hf.device),
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
        )
        outputs.append(out[0, len(p) :].tolist())
        latencies.append(time.perf_counter() - start)
    wall = time.perf_counter() - start
    return {
        "tokens_per_s": len(batch) * new / wall,
        "wall_s": wall,
        "latency_median_s": median(latencies),
        "latency_max_s": max(latencies),
        "outputs": outputs,
    }


@torch.inference_mode()
def run_hf_batched(hf: Any, batch: list[list[int]], new: int, pad: int) -> dict[str, Any]:
    width = max(map(len, batch))
    ids = torch.full((len(batch), width), pad)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for i, p in enumerate(batch):  # left padding: every row ends where generation starts
        ids[i, width - len(p) :] = torch.tensor(p)
        mask[i, width - len(p) :] = 1
    start = time.perf_counter()
    hf.generate(
        ids.to(hf.device),
        attention_mask=mask.to(hf.device),
        max_new_tokens=new,
        min_new_tokens=new,
        do_sample=False,
        pad_token_id=pad,
    )
    wall = time.perf_counter() - start
    return {
        "tokens_per_s": len(batch) * new / wall,
        "wall_s": wall,
        "latency_median_s": wall,
        "latency_max_s": wall,
    }


def load_hf(model: torch.nn.Module, directory: str, dtype: torch.dtype, device: str) -> Any:
    save_checkpoint(model, directory, format="hf")
    hf = transformers.CwmForCausalLM.from_pretrained(directory, dtype=dtype).to(device).eval()
    hf.config._attn_implementation = "sdpa"
    return hf


def kv_bytes_per_token() -> dict[str, Any]:
    config = FLAVORS["tiny"]
    window = config.local_window or 0
    model = build_model(config, seed=0).eval()
    prompt = prompts(1, 4 * window - 8, 4 * window - 8, seed=1)[0]
    result: dict[str, Any] = {"flavor": "tiny", "local_window": window, "tokens": 4 * window}
    for aware in (False, True):
        engine = LLMEngine(model, config=EngineConfig(window_aware=aware, kv_cache_mib=64))
        engine.add_request(None, prompt, SamplingParams(temperature=0, max_tokens=16))
        held, tokens = engine.kv_usage()
        while tokens < 4 * window:
            engine.step()
            held, tokens = engine.kv_usage()
        result["with_freeing" if aware else "without_freeing"] = held / tokens
    result["ratio"] = result["with_freeing"] / result["without_freeing"]
    return result


def cpu() -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_model(FLAVORS["tiny"], seed=0).eval()
    batch = prompts(N_REQUESTS, 32, 96)
    with tempfile.TemporaryDirectory() as tmp:
        hf = load_hf(model, tmp + "/hf", torch.float32, "cpu")
    engine = LLMEngine(model, config=EngineConfig(kv_cache_mib=64))
    run_engine(engine, batch[:2], 8)  # warm-up
    # the same weights in bf16 (`cwm serve --dtype bfloat16`; attention in fp32 on CPU)
    low = LLMEngine(copy.deepcopy(model).to(torch.bfloat16), config=EngineConfig(kv_cache_mib=64))
    run_engine(low, batch[:2], 8)
    # one run each: a second one of the same prompts would start from the prefix cache
    ours = run_engine(engine, batch, NEW_TOKENS)
    ours_bf16 = run_engine(low, batch, NEW_TOKENS)
    ours_bf16.pop("outputs")
    sequential = run_hf_sequential(hf, batch, NEW_TOKENS)
    batched = run_hf_batched(hf, batch, NEW_TOKENS, pad=0)
    same = sum(a == b for a, b in zip(ours.pop("outputs"), sequential.pop("outputs")))
    return {
        "flavor": "tiny",
        "requests": N_REQUESTS,
        "new_tokens": NEW_TOKENS,
        "prompt_tokens": "32-96",
        "threads": torch.get_num_threads(),
        "engine": ours,
        "engine_bf16": ours_bf16,
        "engine_bf16_over_fp32": ours_bf16["tokens_per_s"] / ours["tokens_per_s"],
        "hf_sequential": sequential,
        "hf_batched": batched,
        "speedup_vs_sequential": ours["tokens_per_s"] / sequential["tokens_per_s"],
        "speedup_vs_batched": ours["tokens_per_s"] / batched["tokens_per_s"],
        "greedy_outputs_equal_hf": f"{same}/{N_REQUESTS}",
        "goal": "speedup_vs_sequential >= 3",
        "passed": ours["tokens_per_s"] / sequential["tokens_per_s"] >= 3,
    }


def gpu(*, dry_run: bool = False) -> dict[str, Any]:
    """The GPU variant; ``dry_run``: the same steps on CPU, small (tiny flavor, fp32)."""
    if dry_run:
        name, flavor, device, dtype = "none (dry run)", "tiny", "cpu", torch.float32
        n, low, high, new = 8, 16, 48, 16
    else:
        name, flavor, device, dtype = torch.cuda.get_device_name(), "1b", "cuda", torch.bfloat16
        n, low, high, new = 64, 128, 512, 256
    model = build_model(FLAVORS[flavor], device=device, dtype=dtype, seed=0).eval()
    batch = prompts(n, low, high)
    with tempfile.TemporaryDirectory() as tmp:
        hf = load_hf(model, tmp + "/hf", dtype, device)
    kv_mib = 64 if dry_run else 16_384
    config = EngineConfig(kv_cache_mib=kv_mib, max_num_seqs=n, max_num_batched_tokens=8192)
    engine = LLMEngine(model, config=config)
    run_engine(engine, batch[:2], 8)
    ours = run_engine(engine, batch, new)
    ours.pop("outputs")
    batched = run_hf_batched(hf, batch, new, pad=0)
    one = run_engine(engine, batch[:1], new)  # batch-1 decode
    one.pop("outputs")
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    kv_token = sum(engine.runner.store.block_bytes(g) for g in range(len(engine.groups)))
    kv_token //= engine.blocks.block_size
    bytes_per_token = weight_bytes + kv_token * (len(batch[0]) + 128)  # mid-generation KV read
    peak = next((bw for key, bw in BANDWIDTH.items() if key in name), None)
    limit = peak / bytes_per_token if peak else None
    return {
        "gpu": name,
        "flavor": flavor,
        "requests": n,
        "new_tokens": new,
        "cuda_graphs": engine.runner.graphs is not None,
        "engine": ours,
        "hf_batched": batched,
        "speedup_vs_batched": ours["tokens_per_s"] / batched["tokens_per_s"],
        "batch1_decode_tokens_per_s": one["decode_tokens_per_s"],
        "bandwidth_limit_tokens_per_s": limit,
        "fraction_of_bandwidth_limit": one["decode_tokens_per_s"] / limit if limit else None,
        "goal": "speedup_vs_batched >= 5 and fraction_of_bandwidth_limit >= 0.6",
    }


def main() -> None:
    global N_REQUESTS, NEW_TOKENS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu", action="store_true", help="only the GPU variant")
    parser.add_argument("--dry-run", action="store_true", help="with --gpu: its steps on CPU")
    add_quick_argument(parser, "2 requests of 4 new tokens")
    add_out_argument(parser, default=None)
    args = parser.parse_args()
    check_quick(parser, args)
    if args.quick:
        N_REQUESTS, NEW_TOKENS = 2, 4
    torch.set_num_threads(int(os.environ.get("CWM_BENCH_THREADS", "1")))
    if args.gpu:
        if not (args.dry_run or torch.cuda.is_available()):
            raise SystemExit("bench_serve --gpu needs a CUDA GPU (or --dry-run to check on CPU)")
        result = gpu(dry_run=args.dry_run)
        if args.out or not args.dry_run:
            write_result("serve-gpu", result, args.out or RESULTS)
        else:
            print(result)
        return
    out = args.out or RESULTS
    result = cpu()
    result["kv_bytes_per_token"] = kv_bytes_per_token()
    write_result("serve", result, out)
    if torch.cuda.is_available() and not args.quick:
        write_result("serve-gpu", gpu(), out)
    else:
        print("no CUDA GPU: the GPU variant (1b flavor, 64 concurrent) was skipped")


if __name__ == "__main__":
    main()
