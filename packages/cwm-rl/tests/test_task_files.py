"""The built-in task files of code-tests, math, swe and swe-testgen name installed plugins,
and their built-in datasets start episodes."""

from __future__ import annotations

import tomllib
from importlib.resources import files

import pytest

from cwm.core.plugins import registry
from cwm.rl.envs.datasets import read_jsonl

TASKS = files("cwm.rl.eval").joinpath("tasks")
MINE = ["humaneval", "code-stdio", "math", "swe", "swe-testgen"]


@pytest.mark.parametrize("name", MINE)
def test_a_task_file_names_its_plugins(name: str) -> None:
    task = tomllib.loads(TASKS.joinpath(f"{name}.toml").read_text())
    assert task["name"] == name
    assert task["environment"] in registry("environment")
    reward = registry("reward").create(task["reward"], **task.get("reward_options", {}))
    assert reward.range[0] < reward.range[1]
    if task["data"].startswith("builtin:"):
        rows = read_jsonl(str(files("cwm.rl.eval").joinpath("data", task["data"][8:] + ".jsonl")))
        env = registry("environment").create(task["environment"], **task.get("env_options", {}))
        for row in rows[:3]:
            state, first = env.start(row)
            state.close()
            assert first.observation and not first.done
