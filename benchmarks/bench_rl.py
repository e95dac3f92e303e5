"""Async RL on CPU: how much the trainer waits, how fast the actor generates, how long a
weight update takes.

One run (trace-prediction, teacher-forced next frame, on the built-in rows; the untrained
`tiny` model; ppo; one torch thread per process) is made five ways, at ``max_lag`` 2,
the lag `rl-tiny` trains at (1 before cwm-rl 0.10.1: the async and distributed runs are
also made at 1 for the record, `async_lag1` and `distributed_lag1`):

- embedded, in this process (the actor's and the learner's threads share the GIL), at
  16 steps of 4 groups of 4, 32 tokens (8 steps before cwm-rl 0.9.1: the first batch,
  generated before anything can train in any schedule, weighed an eighth of the run
  then), the learner not sharing a group's prompt
  (``share_prefix = false``: the training step is then about three times a step's
  generation, so the learner sets the pace, the regime where the trainer's idle time
  measures the overlap; an actor slower than the learner leaves it idle in any schedule):
  - `async` (``overlap = "free"``, the default): the actor keeps generating while the
    learner trains, bounded only by the lag;
  - `async_ticks` (``overlap = "ticks"``): the deterministic schedule, a fixed number of
    engine steps per optimizer step;
  - `sync`: generate a batch, train on it, repeat (the baseline);
  - `async_shared`: `async` with the default learner, which runs each group's prompt
    once (for the record: the actor sets the pace there);
- `distributed`: torchrun's 2 processes on 127.0.0.1 (rank 0 learns, rank 1 acts, gloo),
  each pinned to a core of its own as on real hardware (since cwm-rl 0.10.1), at 16
  steps of 2 groups of 4, 192 tokens, the default learner in bf16 autocast where this
  CPU's bf16 matmul pays (cwm-train's ``bf16 = "auto"``, as a deployment's learner and
  the GPU variant's; fp32 before cwm-rl 0.10.0): sized as a deployment is, a step's
  generation about as long as its training or longer (about 2.3 s against 1.2-1.6 s by
  the prompts' lengths since cwm-rl 0.9.0 shares each group's prompt; 2.6 s and more
  before); 16 steps (8 before cwm-rl 0.10.0) for the reason the embedded runs have 16.
  At ``max_lag`` 1 the actor decodes one step's groups alone while the learner trains,
  so the learner's step time sets its pace. Made three times at ``max_lag`` 2 and twice
  at 1, the engine alone measured after each on the actor's core: the ratio is the
  median run's over its engine's (before cwm-rl 0.10.1: unpinned, the runs' mean over
  the engine's).

Reported: the trainer's idle fraction of the wall time (goal, on the embedded `async`
run: under 10%; at ``max_lag`` 1 the actor cannot get ahead of a step whose long prompts
follow a short training step, and the learner waits for it), also after the warm-up (the
first batch, generated before anything can train in any schedule); the actor's generated
tokens/s over the engine alone (one thread, in this process, nothing else to do; on the
distributed actor's core for its runs) generating the prompts that run trained on with
its sampling and at most as many sequences in flight as the lag bound gives the actor
(goal, on the `distributed` run, where the actor has its own core: at least 0.8; the
rest are kept for the record), over the wall time (`generation_ratio`; the distributed
actor's until it sent its last batch) and over the time the engine was stepping
(`generation_ratio_busy`, and for the distributed run at ``max_lag`` 1 also against the
engine alone with one step's groups in flight, the actor's batch while its last batch
trains); the actor's busy fraction; the time to publish one version (an in-place copy
embedded, a gloo broadcast distributed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, add_out_argument, add_quick_argument, check_quick, write_result

from cwm.core.envs import Sampling
from cwm.rl.policies.engine import engine_params
from cwm.rl.run.config import RLConfig, load_rl_config
from cwm.rl.run.launch import torchrun_local
from cwm.rl.run.learner import build_policy
from cwm.rl.run.loop import RLRun, build_engine, fix_numerics
from cwm.rl.run.tasks import build_tasks
from cwm.train.backends.cpu import BF16_MIN_SPEEDUP, bf16_matmul_speedup
from cwm.train.metrics import read_metrics

#: sizes of the embedded runs and of the distributed one (see above), and --quick's
EMBEDDED = {"steps": 16, "groups_per_step": 4, "group_size": 4, "max_tokens": 32}
DISTRIBUTED = {"steps": 16, "groups_per_step": 2, "group_size": 4, "max_tokens": 192}
QUICK = {"steps": 1, "groups_per_step": 2, "group_size": 2, "max_tokens": 8}
#: the CPU runs' lag, `rl-tiny`'s; the async and distributed runs also at 1 (the strictest
#: async lag) for the record; the GPU variant's runs at 1, as measured
LAG = 2
LAGS = {"distributed": LAG, "distributed_lag1": 1}
#: times each distributed run is made (the goal's ratio is the median run's)
REPEATS = {"distributed": 3, "distributed_lag1": 2}
#: the embedded runs measured against the engine alone, and the name of that measurement
EMBEDDED_ALONE = {"async": "embedded", "async_lag1": "embedded_lag1"}
#: each rank on a core of its own; the actor's (rank 1) runs its engine-alone baseline
PINNED_WORKER = Path(__file__).parent / "rl_pinned_worker.py"
ACTOR_RANK = 1
#: the GPU variant: the embedded runs of the 150m flavor, learner and engine on one GPU,
#: steps of 8 groups of 8 (4 steps of 64 tokens fit gpu-check's time); its dry run is
#: --quick's sizes on CPU
GPU = {"steps": 4, "groups_per_step": 8, "group_size": 8, "max_tokens": 64}
GPU_ENGINE = "engine = { kv_cache_mib = 4096, max_num_seqs = 128, max_num_batched_tokens = 8192 }"

#: the embedded runs: (mode, overlap, the learner shares a group's prompt); the three
#: compared train without sharing, so that the learner sets the pace (see above)
RUNS = {
    "async": ("async", "free", False),
    "async_ticks": ("async", "ticks", False),
    "sync": ("sync", "free", False),
    "async_shared": ("async", "free", True),
}


def config(
    run_dir: Path,
    mode: str,
    overlap: str,
    sizes: dict[str, int],
    *,
    share_prefix: bool = True,
    max_lag: int = 1,
    gpu: bool = False,
    bf16_learner: bool = False,
) -> Path:
    """``gpu``: the 150m flavor, learner and engine on CUDA (on CPU, tiny, if none);
    ``bf16_learner``: on CPU the learner autocasts to bf16 where that pays (cwm-train's
    ``bf16 = "auto"``, as `cwm demo` trains)."""
    lines = [f'run_dir = "{run_dir}"', f'mode = "{mode}"', f'overlap = "{overlap}"']
    lines += [f"share_prefix = {str(share_prefix).lower()}"]
    lines += [f"max_lag = {max_lag}", "progress = false", "cpu_threads = 1"]
    # the untrained model scores every sample 0, so every group has zero variance: the
    # learner runs them anyway, doing the work of a step on a trained model's groups
    lines += ["train_zero_variance = true"]
    lines += [f"{k} = {v}" for k, v in sizes.items() if k != "max_tokens"]
    cuda = gpu and torch.cuda.is_available()
    lines += [f'model = {{ flavor = "{"150m" if cuda else "tiny"}" }}']
    if cuda:
        lines += ['hardware = { backend = "cuda" }', GPU_ENGINE]
    elif bf16_learner:
        lines += ['hardware = { backend = "cpu", options = { bf16 = "auto" } }']
    lines += [
        "[sampling]",
        f"max_tokens = {sizes['max_tokens']}",
        "[[tasks]]",
        'name = "trace"',
        'environment = "trace-prediction"',
        'env_options = { mode = "next-frame" }',
        'data = "builtin:trace-prediction"',
        'reward = "frames-exact"',
    ]
    path = run_dir.with_suffix(".toml")
    path.write_text("\n".join(lines) + "\n")
    return path


def trained_groups(run_dir: Path) -> list[str]:
    """The groups a run trained on, as its metrics name them (``task:row_id``)."""
    return [g for r in read_metrics(run_dir) for g in r.get("groups", [])]


def distributed(path: Path) -> dict[str, Any]:
    """The run as torchrun's 2 processes, each pinned to a core: the learner's summary with
    the actor's generation (`RUN/actor-1.json`) in it."""
    torchrun_local(path, 2, worker=PINNED_WORKER)
    run = Path(load_rl_config(path).run_dir)
    summary = json.loads((run / "summary.json").read_text())
    actor = json.loads((run / "actor-1.json").read_text())
    rates = ("generated_tokens_per_s", "generated_tokens_per_busy_s", "actor_busy_frac")
    return {**summary, **{k: actor[k] for k in rates}, "actor_wall_seconds": actor["wall_seconds"]}


def engine_alone(cfg: RLConfig, groups: list[str], *, lag: int | None = None) -> float:
    """Generated tokens/s of the engine with only generation to do, on one thread in this
    process: the prompts of ``groups`` (``task:row_id``, as a run's metrics name them),
    ``group_size`` samples each, the run's sampling, at most as many sequences in flight
    as the actor's lag bound lets it have (``lag``: as a lag of that many steps would)."""
    fix_numerics(cfg)
    device = "cuda" if cfg.hardware.backend == "cuda" else "cpu"
    engine = build_engine(cfg, build_policy(cfg).to(device), 0)
    tasks = build_tasks(cfg)
    rows = {
        f"{name}:{row.get('id', i)}": (t, row)
        for name, t in tasks.items()
        for i, row in enumerate(t.rows)
    }
    requests = []
    for g, key in enumerate(groups):
        task, row = rows[key]
        state, first = task.env.start(row)
        state.close()
        stops = tuple(getattr(task.env, "stop_token_ids", ()))
        for i in range(cfg.group_size):
            sampling = Sampling(
                temperature=task.temperature, seed=g * 1000 + i, stop_token_ids=stops
            )
            params = engine_params(sampling, task.max_tokens)
            requests.append((f"g{g}-s{i}", list(first.observation), params))
    most = (1 + (cfg.max_lag if lag is None else lag)) * cfg.groups_per_step * cfg.group_size
    start, tokens, running = time.perf_counter(), 0, 0
    while requests or engine.has_unfinished():
        while requests and running < most:
            engine.add_request(*requests.pop(0))
            running += 1
        for out in engine.step():
            if out.finished:
                tokens += len(out.outputs[0].token_ids)
                running -= 1
    return tokens / (time.perf_counter() - start)


@contextlib.contextmanager
def on_core(rank: int) -> Iterator[None]:
    """This process on the core of torchrun rank ``rank`` (see `PINNED_WORKER`) meanwhile."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {rank % (os.cpu_count() or 1)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def mean_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs' summary with each number the mean of theirs, each run's in ``runs``."""
    first = runs[0]
    out = {
        k: sum(r[k] for r in runs) / len(runs)
        for k, v in first.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    keys = ("generated_tokens_per_s", "trainer_idle_frac", "wall_seconds")
    return out | {"runs": [{k: round(r[k], 3) for k in keys} for r in runs]}


def per_run(
    summaries: dict[str, dict[str, Any]], key: str, digits: int = 3, base: dict | None = None
) -> dict[str, float]:
    """``key`` of each run's summary, rounded; over ``base[run]`` when given."""
    return {k: round(v[key] / (base[k] if base else 1), digits) for k, v in summaries.items()}


def gpu(out: Path, *, dry_run: bool) -> None:
    """The embedded runs on one GPU (``dry_run``: their wiring on CPU, --quick's sizes):
    the trainer's idle fraction, async against sync, and the actor's generation against
    the engine alone, learner and engine sharing the GPU."""
    if not (dry_run or torch.cuda.is_available()):
        raise SystemExit("bench_rl --gpu needs a CUDA GPU (or --dry-run to check on CPU)")
    sizes = QUICK if dry_run else GPU
    summaries: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # a first run pays for CUDA's start (context, cuBLAS, kernels' first loads)
        warmup = config(Path(tmp) / "warmup", "sync", "free", QUICK, gpu=True)
        RLRun(load_rl_config(warmup), progress=False).run()
        for name, (mode, overlap, share) in RUNS.items():
            path = config(Path(tmp) / name, mode, overlap, sizes, share_prefix=share, gpu=True)
            cfg = load_rl_config(path)
            summaries[name] = RLRun(cfg, progress=False).run()
            print(
                f"bench_rl --gpu: the embedded {name} run, {summaries[name]['wall_seconds']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            if name == "async":
                groups = trained_groups(Path(tmp) / name)
                alone = engine_alone(cfg, groups)
                alone_one_batch = engine_alone(cfg, groups, lag=0)
    base = dict.fromkeys(summaries, alone)
    write_result(
        "rl-gpu",
        {
            "dry_run": dry_run,
            "flavor": cfg.model["flavor"],
            "hardware": cfg.hardware.backend,
            "sizes": sizes,
            "trainer_idle_frac": per_run(summaries, "trainer_idle_frac"),
            "trainer_idle_frac_after_warmup": per_run(summaries, "trainer_idle_frac_after_warmup"),
            "generated_tokens_per_s": {
                "engine_alone": round(alone, 1),
                "engine_alone_one_batch": round(alone_one_batch, 1),
                **per_run(summaries, "generated_tokens_per_s", 1),
            },
            "generation_ratio": per_run(summaries, "generated_tokens_per_s", base=base),
            "generation_ratio_busy": per_run(summaries, "generated_tokens_per_busy_s", base=base),
            "actor_busy_frac": per_run(summaries, "actor_busy_frac"),
            "train_seconds_per_step": {
                k: round((1 - v["trainer_idle_frac"]) * v["wall_seconds"] / v["steps"], 3)
                for k, v in summaries.items()
            },
            "publish_seconds_per_update": round(
                summaries["async"]["publish_seconds"] / summaries["async"]["steps"], 4
            ),
            "wall_seconds": per_run(summaries, "wall_seconds", 1),
        },
        out,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--gpu", action="store_true", help="only the GPU variant")
    parser.add_argument("--dry-run", action="store_true", help="with --gpu: its steps on CPU")
    add_quick_argument(parser, "1 step of 2 groups of 2, 8 tokens")
    add_out_argument(parser)
    args = parser.parse_args()
    check_quick(parser, args)
    if args.gpu:
        if args.dry_run and args.out in (None, RESULTS):
            parser.error("--dry-run numbers are not measurements: give --out DIR")
        gpu(args.out, dry_run=args.dry_run)
        return
    sizes = (
        {"embedded": QUICK, "distributed": QUICK}
        if args.quick
        else {
            "embedded": EMBEDDED,
            "distributed": DISTRIBUTED,
        }
    )
    summaries: dict[str, dict[str, Any]] = {}
    alone: dict[str, float] = {}
    lags: dict[str, int] = {}  # each run's max_lag
    with tempfile.TemporaryDirectory() as tmp:
        lagged = {k: (*v, LAG) for k, v in RUNS.items()}
        for name, (mode, overlap, share, lag) in (
            lagged | {"async_lag1": ("async", "free", False, 1)}
        ).items():
            print(f"bench_rl: the embedded {name} run", file=sys.stderr, flush=True)
            path = config(
                Path(tmp) / name, mode, overlap, sizes["embedded"], share_prefix=share, max_lag=lag
            )
            summaries[name], lags[name] = RLRun(load_rl_config(path), progress=False).run(), lag
            if name in EMBEDDED_ALONE:
                groups = trained_groups(Path(tmp) / name)
                alone[EMBEDDED_ALONE[name]] = engine_alone(load_rl_config(path), groups)
        # the engine alone moves by up to a fifth within minutes on a shared VM: each run
        # made several times, the engine alone measured after each on the actor's core
        pairs: dict[str, list[tuple[float, float]]] = {}
        for name, lag in LAGS.items():
            runs = []
            for i in range(1 if args.quick else REPEATS[name]):
                print(
                    f"bench_rl: {name} (2 processes, max_lag {lag}), run {i + 1}", file=sys.stderr
                )
                run = Path(tmp) / f"{name}-{i}"
                path = config(
                    run, "async", "free", sizes["distributed"], max_lag=lag, bf16_learner=True
                )
                runs.append(distributed(path))
                cfg, groups = load_rl_config(path), trained_groups(run)
                with on_core(ACTOR_RANK):
                    pair = (runs[-1]["generated_tokens_per_s"], engine_alone(cfg, groups))
                    pairs.setdefault(name, []).append(pair)
                    if lag == 1 and i == 0:
                        # one step's groups in flight: what the actor decodes while its last
                        # batch trains
                        alone["distributed_one_batch"] = engine_alone(cfg, groups, lag=0)
            summaries[name], lags[name] = mean_run(runs), lag
            alone[name] = statistics.mean(a for _, a in pairs[name])
    base = {k: alone[k if k in LAGS else EMBEDDED_ALONE.get(k, "embedded")] for k in summaries}
    ratio = per_run(summaries, "generated_tokens_per_s", base=base)
    # the distributed runs: the median of each run's over the engine alone measured after it
    ratio |= {k: round(statistics.median(r / a for r, a in v), 3) for k, v in pairs.items()}
    idle = per_run(summaries, "trainer_idle_frac")
    busy = per_run(summaries, "generated_tokens_per_busy_s", base=base)
    idle_after = per_run(summaries, "trainer_idle_frac_after_warmup")
    write_result(
        "rl",
        {
            "quick": args.quick,
            "sizes": sizes,
            "torch_threads": torch.get_num_threads(),
            # the distributed learner's autocast (bf16 = "auto" decides by this machine)
            "distributed_learner_bf16": bf16_matmul_speedup() >= BF16_MIN_SPEEDUP,
            "processes": {k: 2 if k in LAGS else 1 for k in summaries},
            "max_lag": lags,
            "trainer_idle_frac": idle,
            # the same after the first batch (its generation precedes any training, in every
            # schedule), and how long that first wait was
            "trainer_idle_frac_after_warmup": idle_after,
            "warmup_seconds": per_run(summaries, "warmup_seconds", 2),
            "generated_tokens_per_s": {
                "engine_alone": {k: round(v, 1) for k, v in alone.items()}
                | {f"{k}_runs": [round(a, 1) for _, a in v] for k, v in pairs.items()},
                **per_run(summaries, "generated_tokens_per_s", 1),
            },
            # over the wall time: bounded by the learner's pace when the lag holds the actor
            "generation_ratio": ratio,
            "generation_ratio_runs": {k: [round(r / a, 3) for r, a in v] for k, v in pairs.items()},
            # over the engine's own steps: what the rest of the run costs generation
            "generation_ratio_busy": busy,
            "actor_busy_frac": per_run(summaries, "actor_busy_frac"),
            "publish_seconds_per_update": {
                k: round(summaries[k]["publish_seconds"] / summaries[k]["steps"], 4)
                for k in ("async", *LAGS)
            },
            "wall_seconds": per_run(summaries, "wall_seconds", 1),
            **{f"{k}_runs": summaries[k]["runs"] for k in LAGS},
            "goals": {
                "trainer_idle_frac": {
                    "run": "async",
                    "max_lag": LAG,
                    "goal": "< 0.10",
                    "value": idle["async"],
                    "after_warmup": idle_after["async"],
                    "max_lag_1": idle["async_lag1"],  # for the record
                },
                "generation_ratio": {
                    "run": "distributed",
                    "max_lag": LAG,
                    "goal": ">= 0.8",
                    "value": ratio["distributed"],
                    # while the engine stepped: the wall ratio's rest is the lag bound holding
                    # an actor faster than the learner
                    "while_generating": busy["distributed"],
                    # for the record: at max_lag 1 the learner's step time bounds the ratio;
                    # while generating against the engine alone with one step's groups in
                    # flight (the actor's batch for most of each training step) it shows
                    # what async RL itself costs the engine's pace
                    "max_lag_1": ratio["distributed_lag1"],
                    "max_lag_1_while_generating_vs_one_batch": round(
                        summaries["distributed_lag1"]["generated_tokens_per_busy_s"]
                        / alone["distributed_one_batch"],
                        3,
                    ),
                    "embedded_async": ratio["async"],  # for the record: one process, one GIL
                },
            },
            "load_average": Path("/proc/loadavg").read_text().split()[:3],
        },
        args.out,
    )


if __name__ == "__main__":
    main()
