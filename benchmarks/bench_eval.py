"""Evaluation throughput: episodes per second on trace-prediction with the tiny model.

Contenders, same untrained `tiny` weights, same episodes (16 rows of the built-in
trace-prediction data, greedy, 48 new tokens each: an untrained model never stops,
so every episode writes the same number of tokens):

- `engine_batched`: the in-process engine policy, all episodes open at once (the
  engine decodes them as one continuously batched set);
- `server_sequential`: `cwm serve` with the same checkpoint, through the official
  openai client, one request at a time (what a harness without batching does).

Goal: engine_batched >= 5x server_sequential episodes/s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import best_of_interleaved, options, write_result

from cwm.core.checkpoint import save_checkpoint
from cwm.core.envs import Sampling
from cwm.core.model import FLAVORS, build_model
from cwm.core.plugins import registry
from cwm.rl.eval.runner import run_episode
from cwm.rl.eval.task import load_task
from cwm.rl.policies import EnginePolicy, OpenAIPolicy
from cwm.serve.engine import EngineConfig
from cwm.serve.testing import running_server

EPISODES, NEW_TOKENS = 16, 48


def rows() -> list[dict[str, Any]]:
    path = load_task("trace-prediction").data_path()
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in itertools.islice(lines, EPISODES)]


def episodes(env: Any, policy: Any, data: list[dict[str, Any]], concurrent: bool) -> int:
    sampling = Sampling(temperature=0.0, max_tokens=NEW_TOKENS)

    async def run() -> list[Any]:
        if concurrent:
            return await asyncio.gather(*(run_episode(env, policy, r, sampling) for r in data))
        return [await run_episode(env, policy, r, sampling) for r in data]

    done = asyncio.run(run())
    return sum(len(e.rollout.actions[0].tokens) for e in done)


def main() -> None:
    global EPISODES, NEW_TOKENS
    args = options(__doc__, "4 episodes of 8 new tokens")
    if args.quick:
        EPISODES, NEW_TOKENS = 4, 8
    torch.set_num_threads(1)
    data = rows()
    env = registry("environment").create("trace-prediction")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "ckpt"
        save_checkpoint(build_model(FLAVORS["tiny"], seed=0), ckpt)
        engine = EnginePolicy.from_checkpoint(ckpt, EngineConfig(kv_cache_mib=128))
        with running_server("--checkpoint", str(ckpt), "--threads", "1") as url:
            server = OpenAIPolicy(url)
            tokens = {
                "engine": episodes(env, engine, data, concurrent=True),
                "server": episodes(env, server, data, concurrent=False),
            }
            times = best_of_interleaved(
                {
                    "engine_batched": lambda: episodes(env, engine, data, concurrent=True),
                    "server_sequential": lambda: episodes(env, server, data, concurrent=False),
                },
                repeat=2,
            )
        engine.close()
    env.close()
    rates = {name: EPISODES / seconds for name, seconds in times.items()}
    speedup = rates["engine_batched"] / rates["server_sequential"]
    load = Path("/proc/loadavg").read_text().split()[:3]
    write_result(
        "eval",
        {
            "episodes": EPISODES,
            "new_tokens_per_episode": NEW_TOKENS,
            "tokens_written": tokens,
            "seconds": {k: round(v, 3) for k, v in times.items()},
            "episodes_per_second": {k: round(v, 3) for k, v in rates.items()},
            "speedup": round(speedup, 2),
            "goal": ">= 5x",
            "met": speedup >= 5,
            "load_average": load,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
