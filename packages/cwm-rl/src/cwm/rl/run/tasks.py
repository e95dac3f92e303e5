"""Tasks from the config: each an environment plugin, its rows and a reward plugin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cwm.core.errors import CwmError
from cwm.core.plugins import registry
from cwm.rl.run.actor import Task
from cwm.rl.run.config import RLConfig, TaskConfig


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


def build_task(t: TaskConfig, cfg: RLConfig) -> Task:
    env = registry("environment").create(t.environment, **t.environment_options)
    reward = registry("reward").create(t.reward, **t.reward_options)
    if t.data:
        rows = read_rows(Path(t.data))
    elif callable(getattr(env, "rows", None)):  # an environment with a built-in dataset
        rows = list(env.rows())
    else:
        raise CwmError(f"task {t.name!r}: set data to a JSONL file of {t.environment} rows")
    return Task(
        t.name, env, reward, rows, t.max_tokens or cfg.sampling.max_tokens, cfg.sampling.temperature
    )


def build_tasks(cfg: RLConfig) -> dict[str, Task]:
    return {t.name: build_task(t, cfg) for t in cfg.tasks}
