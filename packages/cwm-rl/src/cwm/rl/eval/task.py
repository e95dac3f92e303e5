"""A task: an environment, a dataset, a reward and sampling settings, described in TOML.

    name = "output-prediction"
    environment = "output-prediction"      # an ``environment`` plugin
    data = "builtin:output-prediction"     # or a JSONL path (relative to this file)
    reward = "pass"                        # a ``reward`` plugin for rollouts
    metric = "pass"                        # the headline outcome, in [0, 1]
    majority = true                        # majority@K over the outcome ``answer``
    [env_options]
    mode = "direct"
    [sampling]
    temperature = 0.0
    max_tokens = 256

Built-in tasks are the TOML files in ``cwm/rl/eval/tasks/``; ``cwm eval NAME``
takes one of them or a path to a TOML file.

The same `Task` is one ``[[tasks]]`` entry of a `cwm rl` config, and `SamplingConfig`
is both an eval task's ``[sampling]`` and the RL run's. A few keys belong to one command
(`EVAL_ONLY`, `RL_ONLY`); each loader rejects the other's, rather than ignore them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import msgspec

from cwm.core.config import AtLeast1, Config, NonNegative, Positive, load_config
from cwm.core.envs import Sampling
from cwm.core.errors import CwmError
from cwm.core.loggers import LoggingConfig
from cwm.core.plugins import registry
from cwm.core.plugins.binding import factory_signature

Count = Annotated[int, msgspec.Meta(ge=0)]
TopP = Annotated[float, msgspec.Meta(gt=0, le=1)]  # the engine's and OpenAI's range
TASKS = resources.files("cwm.rl.eval") / "tasks"
BUILTIN_DATA = resources.files("cwm.rl.eval") / "data"


class SamplingConfig(Config, frozen=True):
    """How actions are sampled. Eval's defaults here; `cwm rl` has its own (`RL_SAMPLING`)."""

    temperature: NonNegative = 0.0
    top_p: TopP = 1.0
    max_tokens: AtLeast1 = 512  # a cap: each request is fitted to the room left in the context
    seed: int = 0  # sample k of a row uses seed + k, so runs repeat and resume the same

    def for_sample(self, k: int, stop_token_ids: tuple[int, ...] = ()) -> Sampling:
        return Sampling(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=self.seed + k,
            stop_token_ids=stop_token_ids,
        )


class Task(Config, frozen=True):
    """An environment, its data and a reward: a `cwm eval` task or a task of `cwm rl`."""

    name: str
    environment: str  # a registry("environment") name
    #: "builtin:NAME", a JSONL file of rows, or "required:WHAT" (only --data); in `cwm rl`
    #: also a directory of trace records, or "" for the environment's own rows
    data: str = ""
    description: str = ""
    env_options: dict[str, Any] = {}
    reward: str = "pass"  # a registry("reward") name, read from each rollout
    reward_options: dict[str, Any] = {}
    limit: Count = 0  # the first rows of the data (0: all; `cwm eval --limit` wins)
    # -- `cwm rl` only (RL_ONLY) --
    weight: float = 1.0  # relative share of the run's groups drawn from this task
    max_tokens: Count = 0  # per action; 0: the run's sampling.max_tokens
    #: this task's policy loss and options over the run's (clip mode, eps, tis_cap, kl ...)
    loss: str = ""
    loss_options: dict[str, Any] = {}
    # -- `cwm eval` only (EVAL_ONLY) --
    metric: str = "pass"  # the outcome that is the headline score
    majority: bool = False  # majority@K over the outcome "answer"
    sampling: SamplingConfig = SamplingConfig()
    max_turns: AtLeast1 = 1
    deadline_s: Positive = 300.0  # wall-clock budget of one episode
    concurrency: AtLeast1 = 64  # episodes open at once
    logging: LoggingConfig = LoggingConfig()  # where the summary's metrics are logged
    #: where relative ``data`` paths start (the TOML's folder); set when loaded
    root: str = ""

    def data_path(self) -> Path:
        if not self.data:
            raise CwmError(f"task {self.name}: set data to builtin:NAME or a JSONL file of rows")
        if self.data.startswith("required:"):
            what = self.data.removeprefix("required:")
            raise CwmError(f"{self.name} needs --data FILE ({what})")
        if self.data.startswith("builtin:"):
            name = self.data.removeprefix("builtin:")
            path = BUILTIN_DATA / f"{name}.jsonl"
            if not path.is_file():
                known = ", ".join(_names(BUILTIN_DATA, ".jsonl"))
                raise CwmError(f"no built-in dataset {name!r}; built in: {known}")
            return Path(str(path))
        path = Path(self.data)
        return path if path.is_absolute() or not self.root else Path(self.root) / path


#: keys only one command reads (the other rejects them when set)
RL_ONLY = ("weight", "max_tokens", "loss", "loss_options")
EVAL_ONLY = ("metric", "majority", "sampling", "max_turns", "deadline_s", "concurrency", "logging")
#: the RL run's sampling defaults: the engine's logprobs are those of the behaviour policy
RL_SAMPLING = {"temperature": 1.0, "max_tokens": 64}


def reject_keys(task: Task, keys: tuple[str, ...], where: str, instead: str) -> None:
    """A set key the command would ignore is an error that says what to do instead."""
    default = Task(name=task.name, environment=task.environment)
    for key in keys:
        if getattr(task, key) != getattr(default, key):
            raise CwmError(f"task {task.name}: {key} is not read by {where}; {instead}")


def create_plugin(kind: str, name: str, options: dict[str, Any], tokenizer: Any = None) -> Any:
    """The ``kind`` plugin ``name``. ``tokenizer`` (the policy's: its checkpoint's
    vocabulary) goes to a factory that takes a ``tokenizer`` option ``options`` do not set."""
    if tokenizer is not None and "tokenizer" not in options:
        signature = factory_signature(registry(kind).get(name))
        if signature is not None and "tokenizer" in signature.parameters:
            options = {"tokenizer": tokenizer, **options}
    return registry(kind).create(name, **options)


def create_environment(task: Task, tokenizer: Any = None) -> Any:
    """The task's environment, encoding with ``tokenizer`` where it takes one; one that
    encodes with another vocabulary than the policy's is a one-line error."""
    env = create_plugin("environment", task.environment, task.env_options, tokenizer)
    env_tok = getattr(env, "tok", None)
    if tokenizer is not None and env_tok is not None and env_tok.vocab != tokenizer.vocab:
        raise CwmError(
            f"task {task.name}: environment {task.environment!r} encodes with {env_tok.vocab!r}, "
            f"the policy with {tokenizer.vocab!r}; set env_options.tokenizer={tokenizer.vocab}"
        )
    return env


def create_reward(task: Task, env: Any) -> Any:
    """The task's reward, with the environment's tokenizer where it takes one."""
    return create_plugin("reward", task.reward, task.reward_options, getattr(env, "tok", None))


def _names(folder: Any, suffix: str) -> list[str]:
    return sorted(p.name.removesuffix(suffix) for p in folder.iterdir() if p.name.endswith(suffix))


def task_names() -> list[str]:
    return _names(TASKS, ".toml")


def load_task(spec: str, overrides: list[str] | tuple[str, ...] = ()) -> Task:
    """A built-in task by name, or a TOML file; ``overrides`` are ``--set`` items."""
    path = Path(spec)
    if not spec.endswith(".toml"):
        builtin = TASKS / f"{spec}.toml"
        if not builtin.is_file():
            raise CwmError(
                f"unknown task {spec!r}; built in: {', '.join(task_names())}, or a .toml file"
            )
        path = Path(str(builtin))
    elif not path.is_file():
        raise CwmError(f"task file {spec} does not exist")
    task = load_config(Task, path, list(overrides))
    reject_keys(task, RL_ONLY, "cwm eval", "remove it (it sets a task of a cwm rl run)")
    return msgspec.structs.replace(task, root=task.root or str(path.parent))
