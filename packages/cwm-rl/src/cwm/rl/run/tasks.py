"""Tasks from the config: each an environment plugin, its rows and a reward plugin.

A task's ``data`` is a JSONL file of rows, ``builtin:NAME`` (the evaluation's built-in
datasets), or a directory of trace records (a `cwm data build` split, such as
``runs/demo/data/train``) whose calls become rows of the prediction environments.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from cwm.core.errors import CwmError
from cwm.core.tokenizer import Tokenizer
from cwm.rl.eval.task import BUILTIN_DATA, Task, create_environment, create_reward
from cwm.rl.run.actor import LiveTask
from cwm.rl.run.config import RLConfig
from cwm.rl.run.trace_rows import rows_from_traces


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise CwmError(f"{path}: task data not found; set the task's data to a JSONL file of rows")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise CwmError(
                f"{path}:{n}: not a JSON row ({exc.msg}); fix or remove the line"
            ) from None
    return rows


def task_rows(t: Task, env: Any) -> list[dict[str, Any]]:
    if t.data.startswith("builtin:"):
        name = t.data.removeprefix("builtin:")
        path = Path(str(BUILTIN_DATA / f"{name}.jsonl"))
        if not path.is_file():
            raise CwmError(f"task {t.name!r}: no built-in dataset {name!r}")
        return read_rows(path)
    if t.data and Path(t.data).is_dir():
        return rows_from_traces(t.environment, Path(t.data))
    if t.data:
        return read_rows(Path(t.data))
    if callable(getattr(env, "rows", None)):  # an environment with a built-in dataset
        return list(env.rows())
    raise CwmError(f"task {t.name!r}: set data to a JSONL file of {t.environment} rows")


def expand_rows(name: str, env: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's episodes; a row the environment cannot run is left out, with a warning."""
    out, bad = [], []
    for row in rows:
        try:
            out += env.expand(row)
        except CwmError:
            bad.append(str(row.get("id")))
    if bad:
        warnings.warn(f"task {name!r}: {len(bad)} rows left out (e.g. {bad[0]})", stacklevel=2)
    if not out:
        raise CwmError(f"task {name!r}: the environment can run none of its rows")
    return out


def build_task(t: Task, cfg: RLConfig, tokenizer: Tokenizer | None = None) -> LiveTask:
    """``tokenizer``: the policy's, which the environment encodes with unless its
    options name another (or it takes none)."""
    env = create_environment(t, tokenizer)
    reward = create_reward(t, env)
    rows = task_rows(t, env)[: t.limit or None]
    if callable(getattr(env, "expand", None)):  # e.g. next-frame: one episode per frame
        rows = expand_rows(t.name, env, rows)
    return LiveTask(
        t.name, env, reward, rows, t.max_tokens or cfg.sampling.max_tokens, cfg.sampling.temperature
    )


def build_tasks(cfg: RLConfig, tokenizer: Tokenizer | None = None) -> dict[str, LiveTask]:
    return {t.name: build_task(t, cfg, tokenizer) for t in cfg.tasks}
