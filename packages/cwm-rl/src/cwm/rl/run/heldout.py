"""The held-out reward of an RL run: an evaluation task (`cwm eval`'s harness) scored
with the weights of one version, on an engine of its own.

The evaluation gets its own engine over a copy of the weights, so the actor's engine,
its sequences in flight and the run's schedule are untouched: a run with held-out
evaluations trains exactly as one without. Samples go to ``RUN/heldout/step-N/`` (the
harness resumes them, so a resumed run does not score a version twice).
"""

from __future__ import annotations

import json
from pathlib import Path

from cwm.core.config import Config
from cwm.rl.eval.run import evaluate
from cwm.rl.eval.task import load_task
from cwm.rl.policies.engine import EnginePolicy
from cwm.rl.run.trace_rows import rows_from_traces
from cwm.serve.engine import LLMEngine


class HeldoutConfig(Config, frozen=True, kw_only=True):
    #: a `cwm eval` task (built-in name or TOML file) scored before the first step, every
    #: ``eval_every`` steps and after the last; "": no held-out evaluation
    task: str = ""
    eval_every: int = 0  # 0: only before and after
    limit: int = 0  # the task's first rows (0: all of them)
    #: samples per row, each scored; a row's reward is their mean (with the task's
    #: ``sampling.temperature`` above 0, e.g. the run's own, the score is the expected
    #: reward of the policy the run trains rather than of its greedy decoding)
    samples: int = 1
    #: the rows: "" for the task's own, a JSONL file, or a directory of trace records (a
    #: `cwm data build` split such as runs/demo/data/heldout: one call per function)
    data: str = ""
    set: list[str] = []  # overrides of the task, e.g. ["sampling.max_tokens=64"]


def heldout_reward(h: HeldoutConfig, engine: LLMEngine, run_dir: Path, step: int) -> float:
    """The task's headline score (the mean over rows) for the weights in ``engine``."""
    task = load_task(h.task, h.set)
    data = Path(h.data) if h.data else None
    if data is not None and data.is_dir():
        rows = rows_from_traces(task.environment, data, one_per_function=True)
        data = run_dir / "heldout" / "rows.jsonl"
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    policy = EnginePolicy(engine, name=f"rl:step-{step}")
    try:
        summary = evaluate(
            task,
            policy,
            data=data,
            samples=h.samples,
            out=run_dir / "heldout" / f"step-{step:06d}",
            limit=h.limit or None,
            progress=False,
        )
    finally:
        policy.close()
    return float(summary["score"])
