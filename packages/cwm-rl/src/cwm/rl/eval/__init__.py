"""Evaluation: tasks (environment + data + reward + sampling, in TOML), the async episode
runner, metrics (pass@k, majority@k, standard errors) and the ``cwm eval`` command."""

from cwm.rl.eval.metrics import mean_stderr, pass_at_k
from cwm.rl.eval.runner import EpisodeLimits, run_episode
from cwm.rl.eval.task import Task, load_task, task_names

__all__ = [
    "EpisodeLimits",
    "Task",
    "load_task",
    "mean_stderr",
    "pass_at_k",
    "run_episode",
    "task_names",
]
