"""``cwm eval swe --best-of``: SWE test-time scaling through the harness.

    summary = evaluate_best_of(load_task("swe"), policy, out=Path("ev"), data=rows, samples=8)

The K ``swe`` samples of a row are its candidate patches; K ``swe-testgen`` samples
(the same environment options, sampling and limits; written to ``out/testgen/``) are
its generated reproduction tests; `best_at_k` chooses one candidate per row.
``out/best_at_k.jsonl`` holds each row's choice; ``summary.json`` gets ``best@K`` and
``majority@K`` (identical normalized patches) beside the samples' ``pass@1``.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
from tqdm.auto import tqdm

from cwm.core.errors import CwmError
from cwm.core.io import atomic_open
from cwm.core.plugins import registry
from cwm.rl.envs.swe_tasks import task_of
from cwm.rl.eval.best_at_k import Candidate, Scaling, best_at_k
from cwm.rl.eval.metrics import mean_stderr
from cwm.rl.eval.run import evaluate, read_rows, write_summary
from cwm.rl.eval.runner import row_id
from cwm.rl.eval.samples import EvalSample, read_samples
from cwm.rl.eval.task import Task

TESTGEN = "swe-testgen"


def testgen_task(task: Task) -> Task:
    """The ``swe`` task's twin that writes reproduction tests for the same rows."""
    return msgspec.structs.replace(
        task,
        name=f"{task.name}-testgen",
        environment=TESTGEN,
        reward="pass",
        reward_options={},
        metric="pass",
        majority=False,
    )


def _by_row(path: Path, samples: int) -> dict[str, list[EvalSample]]:
    rows: dict[str, list[EvalSample]] = defaultdict(list)
    for s in sorted(read_samples(path), key=lambda s: s.sample):
        if s.sample < samples:
            rows[s.row_id].append(s)
    return rows


def evaluate_best_of(
    task: Task,
    policy: Any,
    *,
    out: Path,
    data: Path | None = None,
    samples: int = 1,
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    if task.environment != "swe":
        raise CwmError(
            f"--best-of chooses among swe patches; task {task.name!r} runs {task.environment!r}"
        )
    run = {"data": data, "samples": samples, "limit": limit, "progress": progress}
    summary = evaluate(task, policy, out=out, **run)  # type: ignore[arg-type]
    evaluate(testgen_task(task), policy, out=out / "testgen", **run)  # type: ignore[arg-type]
    patches = _by_row(out / "samples.jsonl", samples)
    tests = _by_row(out / "testgen" / "samples.jsonl", samples)
    env = registry("environment").create("swe", **task.env_options)  # its sandbox and image
    results: list[Scaling] = []
    try:
        rows = list(read_rows(data or task.data_path(), limit))
        with atomic_open(out / "best_at_k.jsonl", "w") as f:
            for row in tqdm(rows, desc=f"{task.name} best@{samples}", disable=not progress):
                rid = row_id(row) or ""
                try:
                    swe_task = task_of(row, env.image)
                except CwmError:  # a row that never started: nothing to choose from
                    continue
                candidates = [
                    Candidate(s.info.get("patch", ""), s.action_tokens) for s in patches[rid]
                ]
                generated = [s.info.get("test", "") for s in tests[rid]]
                result = best_at_k(
                    swe_task,
                    candidates,
                    generated,
                    functools.partial(env.backend.start, swe_task.image or ""),
                    timeout=env.config.test_timeout,
                )
                results.append(result)
                f.write(json.dumps({"row_id": rid, **msgspec.to_builtins(result)}) + "\n")
    finally:
        env.close()
    for name, values in (
        (f"majority@{samples}", [float(r.majority_at_k) for r in results]),
        (f"best@{samples}", [float(r.best_at_k) for r in results]),
    ):
        mean, stderr = mean_stderr(values)
        summary["metrics"][name] = {"mean": mean, "stderr": stderr, "rows": len(values)}
    testgen = json.loads((out / "testgen" / "summary.json").read_text())
    summary["metrics"]["testgen_pass"] = testgen["metrics"].get(
        "score", {"mean": 0.0, "stderr": 0.0, "rows": 0}
    )
    write_summary(summary, task, policy, out)
    return summary
