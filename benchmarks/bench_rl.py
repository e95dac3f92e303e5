"""Async RL on CPU: how much the trainer waits, how fast the actor generates, how long a
weight update takes.

The same run (trace-prediction, teacher-forced next frame, on the built-in rows; the
untrained `tiny` model; ppo) is made three times in this process:

- `async` (max_lag 1, ``overlap = "free"``, the default): the actor keeps generating
  while the learner trains, bounded only by the lag;
- `async_ticks` (max_lag 1, ``overlap = "ticks"``): the deterministic schedule, a fixed
  number of engine steps per optimizer step;
- `sync`: generate a batch, train on it, repeat (the baseline).

Reported: the trainer's idle fraction of the wall time in each (goal: async under 10%),
the generated tokens/s of each run over the engine alone generating the same
prompts with the same sampling and nothing else to do (goal: async at least 0.8), over
the wall time (`generation_ratio`) and over the time the engine was stepping
(`generation_ratio_busy`; the actor waits while ``max_lag`` holds it for the learner, so
the wall rate is the learner's pace once generation is faster than training), and the
time to publish one version into the engine.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import options, write_result

from cwm.rl.run.config import load_rl_config
from cwm.rl.run.loop import RLRun, build_engine
from cwm.serve.engine import SamplingParams

FULL = {"steps": 8, "groups_per_step": 4, "group_size": 4}
QUICK = {"steps": 2, "groups_per_step": 2, "group_size": 2}


RUNS = {"async": ("async", "free"), "async_ticks": ("async", "ticks"), "sync": ("sync", "free")}


def config(run_dir: Path, mode: str, overlap: str, sizes: dict[str, int]) -> Any:
    lines = [f'run_dir = "{run_dir}"', f'mode = "{mode}"', f'overlap = "{overlap}"']
    lines += ["max_lag = 1", "progress = false"]
    lines += [f"{k} = {v}" for k, v in sizes.items()]
    lines += [
        'model = { flavor = "tiny" }',
        "[sampling]",
        "max_tokens = 32",
        "[[tasks]]",
        'name = "trace"',
        'environment = "trace-prediction"',
        'env_options = { mode = "next-frame" }',
        'data = "builtin:trace-prediction"',
        'reward = "frames-exact"',
    ]
    path = run_dir.with_suffix(".toml")
    path.write_text("\n".join(lines) + "\n")
    return load_rl_config(path)


def engine_alone(run: RLRun, requests: int) -> float:
    """Generated tokens/s of the engine with only generation to do: the first prompts of
    the run's task, ``group_size`` samples each, the run's sampling."""
    cfg = run.cfg
    engine = build_engine(cfg, run.learner.model, 0)
    task = next(iter(run.tasks.values()))
    stops = list(getattr(task.env, "stop_token_ids", ()))
    for i in range(requests):
        _, first = task.env.start(task.rows[i % len(task.rows)])
        params = SamplingParams(
            max_tokens=task.max_tokens, temperature=1.0, seed=i, stop_token_ids=stops
        )
        engine.add_request(f"r{i}", list(first.observation), params)
    start, tokens = time.perf_counter(), 0
    while engine.has_unfinished():
        tokens += sum(len(o.outputs[0].token_ids) for o in engine.step() if o.finished)
    return tokens / (time.perf_counter() - start)


def main() -> None:
    args = options(__doc__, "2 steps of 2 groups of 2")
    sizes = QUICK if args.quick else FULL
    summaries, alone = {}, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (mode, overlap) in RUNS.items():
            run = RLRun(config(Path(tmp) / name, mode, overlap, sizes), progress=False)
            summaries[name] = run.run()
            if name == "async":
                alone = engine_alone(run, sizes["steps"] * sizes["groups_per_step"] * 4)
    threads = torch.get_num_threads()
    a = summaries["async"]
    during = a["generated_tokens_per_s"]
    write_result(
        "rl",
        {
            "quick": args.quick,
            "sizes": sizes,
            "torch_threads": threads,
            "trainer_idle_frac": {
                k: round(v["trainer_idle_frac"], 3) for k, v in summaries.items()
            },
            "generated_tokens_per_s": {
                "during_rl": round(during, 1),
                "engine_alone": round(alone, 1),
                **{
                    f"during_{k}": round(v["generated_tokens_per_s"], 1)
                    for k, v in summaries.items()
                },
            },
            # over the wall time: bounded by the learner's pace when the lag holds the actor
            "generation_ratio": round(during / alone, 3) if alone else None,
            # over the engine's own steps: what the rest of the run costs generation
            "generation_ratio_busy": round(a["generated_tokens_per_busy_s"] / alone, 3)
            if alone
            else None,
            "actor_busy_frac": {k: round(v["actor_busy_frac"], 3) for k, v in summaries.items()},
            "publish_seconds_per_update": round(a["publish_seconds"] / a["steps"], 4),
            "wall_seconds": {k: round(v["wall_seconds"], 1) for k, v in summaries.items()},
            "goals": {"idle_async": "< 0.10", "generation_ratio": ">= 0.8"},
            "load_average": Path("/proc/loadavg").read_text().split()[:3],
        },
        args.out,
    )


if __name__ == "__main__":
    main()
