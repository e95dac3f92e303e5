"""The RL run's config: one TOML for the tasks, the loss, the lag and the learner.

    cfg = load_rl_config("packages/cwm-rl/configs/rl-tiny.toml", ["max_lag=2"])

Every key has a default that runs on a laptop CPU; see the README's "Async RL" section.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

from cwm.core.config import Config, ConfigError, Fraction, load_config
from cwm.core.loggers import LoggingConfig
from cwm.core.model.config import ModelConfig, flavor
from cwm.rl.eval.task import EVAL_ONLY, RL_SAMPLING, SamplingConfig, Task, reject_keys
from cwm.rl.run.heldout import HeldoutConfig
from cwm.rl.run.shaping import ShapingConfig
from cwm.train.config import HardwareConfig, OptimConfig


class EngineOptions(Config, frozen=True, kw_only=True):
    kv_cache_mib: int = 64
    max_num_seqs: int = 64
    max_num_batched_tokens: int = 512
    max_model_len: int = 0  # 0: the model's max_seq_len
    #: after a weight update, recompute the KV of the sequences in flight with the new
    #: weights (false: keep it, PipelineRL's choice; a sequence then spans versions in KV too)
    recompute_kv: bool = False
    #: decode through CUDA graphs on a GPU (no effect on CPU); weights are updated in
    #: place, so the captured graphs stay valid across versions
    cuda_graphs: bool = True


class ServersOptions(Config, frozen=True, kw_only=True):
    #: base URLs (…/v1) of `cwm serve --weights-control` processes that generate for the
    #: run ([]: the in-process engine); their API key comes from CWM_API_KEY
    urls: list[str] = []
    #: the address the servers reach this process at (it hosts the weights group's store)
    host: str = "127.0.0.1"
    #: the weights group's backend: gloo (CPU tensors) or nccl (the servers' GPUs)
    backend: Literal["gloo", "nccl"] = "gloo"
    #: seconds a join, a version's arrival or a reply may take before the run stops
    timeout_s: float = 300.0


class CheckpointOptions(Config, frozen=True, kw_only=True):
    #: save every N optimizer steps (0: only at the end); a save restarts the episodes in
    #: flight, so a resumed run follows the same schedule as an uninterrupted one
    interval: int = 0
    keep: int = 2
    resume: bool = True


class RLConfig(Config, frozen=True, kw_only=True):
    run_dir: str = "runs/rl"
    seed: int = 0
    steps: int = 20  # optimizer steps (= weight versions published)
    #: the starting checkpoint directory (`cwm demo`, `cwm train`); "": a fresh ``model``
    init: str = ""
    model: dict[str, Any] = msgspec.field(default_factory=lambda: {"flavor": "debug"})
    tasks: list[Task] = []  # `cwm eval`'s task schema; RL reads the keys of its README
    #: async: actors keep generating while the learner trains (bounded by max_lag);
    #: sync: generate a batch, train on it, repeat (the reference async must match at lag 0)
    mode: Literal["async", "sync"] = "async"
    #: optimizer steps a trained sample may lag: learner version - its oldest token's version
    max_lag: int = 1
    #: what the actor does while the learner trains (on its own thread). "free": it keeps
    #: generating until the learner is done (bounded by max_lag) and environment steps land
    #: as they finish: the trainer idles least, but timing decides which tokens get which
    #: version.
    #: "ticks": exactly overlap_ticks engine steps, each waiting for its environment steps:
    #: a run is a function of its config (max_lag = 0 equals sync, resume is exact)
    overlap: Literal["free", "ticks"] = "free"
    overlap_ticks: int = 16
    #: threads running environment steps (grading, tests, tracer runs) beside the engine
    env_workers: int = 4
    groups_per_step: int = 4  # prompts per optimizer step
    group_size: int = 4  # samples per prompt (GRPO's group)
    micro_batch: int = 8  # samples per forward/backward of the learner
    #: a micro-batch ends before a sample that padding to its longest would lengthen by
    #: more than this share of the row (1: never; 0: at every change of length)
    micro_batch_padding: Fraction = 0.25
    #: the samples of a group in a micro-batch run their common prefix (the prompt) once
    share_prefix: bool = True
    #: run the samples of zero-variance groups through the learner anyway (their gradient is
    #: 0, so the step is the same): the entropy of every sample, or a benchmark's learner
    #: doing a trained model's work while an untrained one scores every sample alike
    train_zero_variance: bool = False
    #: torchrun scale-out: ranks 0..learners-1 train (FSDP2 over their own group), the
    #: others act; rank 0 publishes the weights
    learners: int = 1
    #: torchrun scale-out: tensor-parallel degree of the learners (it divides ``learners``;
    #: FSDP2 shards over the learners/learner_tp groups of the other dimension)
    learner_tp: int = 1
    #: torchrun scale-out: the most bytes of one weight-broadcast bucket
    weight_bucket_mb: float = 64.0
    loss: str = "ppo"  # a registry("policy_loss") name
    loss_options: dict[str, Any] = {}
    #: `cwm eval`'s sampling with RL's defaults (temperature 1.0 keeps the engine's
    #: logprobs those of the behaviour policy); top_p and seed stay at their defaults
    sampling: SamplingConfig = SamplingConfig(**RL_SAMPLING)
    shaping: ShapingConfig = ShapingConfig()
    engine: EngineOptions = EngineOptions()
    #: generate on `cwm serve` processes instead of the in-process engine (one process only)
    servers: ServersOptions = ServersOptions()
    optim: OptimConfig = OptimConfig(lr=1e-5, warmup_steps=0, decay="constant", weight_decay=0.0)
    checkpoint: CheckpointOptions = CheckpointOptions()
    heldout: HeldoutConfig = HeldoutConfig()
    #: logger plugins of the run (rank 0): jsonl (RUN/metrics.jsonl), tensorboard, wandb
    logging: LoggingConfig = LoggingConfig()
    hardware: HardwareConfig = HardwareConfig(backend="cpu")
    #: torch's intra-op threads for the CPU math of the learner and of the engine (each on
    #: its own thread). A float sum depends on how it was split, so the count is part of
    #: the run's numerics: fixed here, never left to the process (0: torch's default)
    cpu_threads: int = 1
    progress: bool = True

    def saves_at(self, step: int) -> bool:
        """Whether the run checkpoints after optimizer step ``step``: every
        ``checkpoint.interval`` steps and after the last."""
        every = self.checkpoint.interval
        return step == self.steps or bool(every and step % every == 0 and step < self.steps)

    def model_config(self) -> ModelConfig:
        fields = dict(self.model)
        merged = msgspec.to_builtins(flavor(str(fields.pop("flavor", "debug")))) | fields
        try:
            return msgspec.convert(merged, ModelConfig, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"config key model: {exc}") from None


def load_rl_config(path: Path | str | None = None, overrides: Sequence[str] = ()) -> RLConfig:
    try:
        cfg = load_config(RLConfig, path, overrides, preset={"sampling": RL_SAMPLING})
    except ConfigError as exc:
        if "environment_options" in str(exc):  # the key's name before cwm-rl 0.3
            raise ConfigError(f"{exc}; it is now env_options (as in cwm eval tasks)") from None
        raise
    if cfg.sampling.top_p != 1.0 or cfg.sampling.seed:
        raise ConfigError(
            "config keys sampling.top_p, sampling.seed: RL samples the whole distribution "
            "with seeds from the run's seed; remove them"
        )
    if not cfg.tasks:
        raise ConfigError(
            "config key tasks: no tasks; add [[tasks]] with name, environment and reward "
            "(see packages/cwm-rl/configs/rl-tiny.toml)"
        )
    if (
        cfg.max_lag < 0
        or cfg.overlap_ticks < 0
        or cfg.env_workers < 1
        or cfg.learners < 1
        or cfg.learner_tp < 1
        or cfg.groups_per_step < 1
        or cfg.group_size < 1
        or cfg.micro_batch < 1
        or cfg.cpu_threads < 0
        or cfg.heldout.eval_every < 0
        or cfg.heldout.limit < 0
        or cfg.heldout.samples < 1
    ):
        raise ConfigError(
            "config keys max_lag, overlap_ticks, cpu_threads, heldout.eval_every, heldout.limit "
            "(>= 0), groups_per_step, "
            "group_size, micro_batch, env_workers, learners, learner_tp, heldout.samples (>= 1)"
        )
    if cfg.learners % cfg.learner_tp:
        raise ConfigError(
            f"config keys learners, learner_tp: learner_tp={cfg.learner_tp} must divide "
            f"learners={cfg.learners}"
        )
    if cfg.servers.urls:
        _check_servers(cfg)
    if cfg.init and not Path(cfg.init).is_dir():
        raise ConfigError(f"config key init: {cfg.init} is not a checkpoint directory")
    for t in cfg.tasks:
        reject_keys(
            t, EVAL_ONLY, "cwm rl", "remove it (the run's [sampling] and env_options decide)"
        )
    names = [t.name for t in cfg.tasks]
    if len(set(names)) != len(names):
        raise ConfigError(f"config key tasks: task names must be unique, got {names}")
    if cfg.heldout.task:
        from cwm.rl.eval.task import load_task

        load_task(cfg.heldout.task, cfg.heldout.set)  # a bad name fails now, not after a step
    cfg.model_config()
    return cfg


def _check_servers(cfg: RLConfig) -> None:
    """What a run on `cwm serve` processes cannot do, said at load."""
    if cfg.servers.timeout_s <= 0:
        raise ConfigError(f"config key servers.timeout_s: must be > 0, got {cfg.servers.timeout_s}")
    if cfg.overlap == "ticks":
        raise ConfigError(
            "config keys servers.urls, overlap: a run on servers is timed by their replies, "
            'not a function of its config; use overlap = "free"'
        )
    if cfg.engine.recompute_kv:
        raise ConfigError(
            "config keys servers.urls, engine.recompute_kv: a server keeps the KV cache of its "
            "sequences in flight across an update; set engine.recompute_kv = false"
        )
