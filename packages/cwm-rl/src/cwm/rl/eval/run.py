"""Run a task: every (row, sample) episode at once under a concurrency cap, resumable.

    summary = evaluate(load_task("output-prediction"), make_policy("oracle"), out=Path("ev"))

Writes ``out/samples.jsonl`` (appended as episodes finish), ``out/summary.json``
and ``out/summary.md``. Samples already in ``samples.jsonl`` are not run again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from tqdm.auto import tqdm

from cwm.core.errors import CwmError
from cwm.core.io import Appender, atomic_open
from cwm.core.plugins import registry
from cwm.core.tokenizer import Tokenizer
from cwm.rl.eval.log_metrics import log_summary
from cwm.rl.eval.runner import ID_KEYS, EpisodeLimits, row_id, run_episode
from cwm.rl.eval.samples import EvalSample, make_sample, read_samples, sample_id
from cwm.rl.eval.summary import markdown, summarize
from cwm.rl.eval.task import Task, create_environment, create_reward


def read_rows(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise CwmError(f"data file {path} does not exist")
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if limit is not None and lineno > limit:
                return
            if not line.strip():
                continue
            try:
                row = msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                raise CwmError(f"{path}:{lineno}: not a JSON object: {exc}") from None
            if not isinstance(row, dict) or row_id(row) is None:
                keys = " or ".join(f'"{k}"' for k in ID_KEYS)
                raise CwmError(f"{path}:{lineno}: a row must be a JSON object with a string {keys}")
            yield row


def _expand(env: Any, row: dict[str, Any]) -> list[dict[str, Any]]:
    """A row's episodes; a row the environment cannot expand stays one episode, whose start
    then records the error as its outcome (a bad row never stops the run)."""
    try:
        return env.expand(row)
    except CwmError:
        return [row]


def evaluate(
    task: Task,
    policy: Any,
    *,
    out: Path,
    data: Path | None = None,
    samples: int = 1,
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    return asyncio.run(
        _evaluate(task, policy, out=out, data=data, samples=samples, limit=limit, progress=progress)
    )


async def _evaluate(
    task: Task,
    policy: Any,
    *,
    out: Path,
    data: Path | None,
    samples: int,
    limit: int | None,
    progress: bool,
) -> dict[str, Any]:
    if samples < 1:
        raise CwmError("--samples must be at least 1")
    for name in task.logging.backends:  # an unknown logger fails before the run, not after
        registry("logger").get(name)
    # an engine policy's model encodes with its checkpoint's vocabulary: so does its env
    env = create_environment(task, getattr(policy, "tokenizer", None))
    reward = create_reward(task, env)
    tok = getattr(env, "tok", None) or getattr(policy, "tokenizer", None) or Tokenizer()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "samples.jsonl"
    done = {s.id: s for s in read_samples(path)}
    try:
        rows = list(read_rows(data or task.data_path(), limit or task.limit or None))
        if hasattr(env, "expand"):
            rows = [r for row in rows for r in await asyncio.to_thread(_expand, env, row)]
        ids = [row_id(r) or "" for r in rows]
        todo = [
            (r, k) for r, i in zip(rows, ids) for k in range(samples) if sample_id(i, k) not in done
        ]
        wanted = {sample_id(i, k) for i in ids for k in range(samples)}
        finished = [s for i, s in done.items() if i in wanted]
        stops = tuple(getattr(env, "stop_token_ids", ()))
        limits = EpisodeLimits(max_turns=task.max_turns, deadline_s=task.deadline_s)
        gate = asyncio.Semaphore(task.concurrency)

        async def one(row: dict[str, Any], k: int) -> EvalSample:
            async with gate:
                ep = await run_episode(env, policy, row, task.sampling.for_sample(k, stops), limits)
            return make_sample(
                tok, task.name, k, ep.rollout, metric=task.metric, reward=reward, seconds=ep.seconds
            )

        with (
            Appender(path) as writer,
            tqdm(
                total=len(wanted),
                initial=len(finished),
                desc=task.name,
                unit="ep",
                disable=not progress,
            ) as bar,
        ):
            jobs = [asyncio.ensure_future(one(r, k)) for r, k in todo]
            try:
                for next_done in asyncio.as_completed(jobs):
                    sample = await next_done
                    writer.write(sample)
                    finished.append(sample)
                    bar.update()
                    bar.set_postfix(score=f"{sum(s.score for s in finished) / len(finished):.3f}")
            finally:
                for job in jobs:
                    job.cancel()
    finally:
        env.close()
    summary = summarize(
        finished,
        task=task.name,
        metric=task.metric,
        majority=task.majority,
        policy=getattr(policy, "name", "?"),
        vote=getattr(env, "majority", None),
    )
    write_summary(summary, task, policy, out)
    return summary


def write_summary(summary: dict[str, Any], task: Task, policy: Any, out: Path) -> None:
    """``summary.json``, ``summary.md``, and the metrics through the task's loggers."""
    with atomic_open(out / "summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    with atomic_open(out / "summary.md", "w") as f:
        f.write(markdown(summary))
    config = msgspec.to_builtins(task)
    log_summary(summary, task.logging, out, step=getattr(policy, "version", 0) or 0, config=config)
