"""The trainer's config: one TOML for pre-training, mid-training and SFT.

    cfg = load_train_config("configs/sft.toml", ["optim.lr=1e-4", "steps=200"])

Every key has a default that runs on a laptop CPU; `configs/*.toml` in this
package are the stage presets. See the README's "Config keys" table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from cwm.core.config import (
    AtLeast0,
    AtLeast1,
    Config,
    ConfigError,
    Fraction,
    NonNegative,
    Positive,
    convert_config,
    load_config,
)
from cwm.core.loggers import LoggingConfig
from cwm.core.model.config import ModelConfig, flavor

#: which tokens of an example are trained on (its loss mask):
#: all; after_prompt: a trace's frames and end (not its source prompt);
#: assistant: assistant messages of chats and trajectories; auto: per record kind
#: (documents all, traces after_prompt, chats and trajectories assistant)
#: Adam's betas: 0 <= beta < 1
Beta = Annotated[float, msgspec.Meta(ge=0, lt=1)]

Mask = Literal["auto", "all", "after_prompt", "assistant"]


class DataSource(Config, frozen=True, kw_only=True):
    """One source of the mixture: a cwm-data dataset directory, or record files."""

    path: str  # a dataset directory (manifest.json) or .jsonl/.msgpack records (file or dir)
    weight: Positive = 1.0  # relative share of the examples drawn
    split: str = "train"  # for dataset directories: train | heldout
    mask: Mask = "auto"
    name: str = ""  # for logs; default: the path


class DataConfig(Config, frozen=True, kw_only=True):
    sources: list[DataSource] = []
    #: held-out sources: their loss is reported every ``metrics.eval_every`` steps
    eval_sources: list[DataSource] = []
    seq_len: AtLeast1 = 1024
    #: rows per optimizer step, over all ranks and accumulation micro-batches
    batch_size: AtLeast1 = 8
    #: pack: concatenate examples into full rows (document-causal attention, no padding);
    #: bucket: one example a row, rows of similar length batched together (little padding)
    mode: Literal["pack", "bucket"] = "pack"
    #: bucket mode: size each batch to this many tokens (rows = budget / row length);
    #: 0 keeps ``batch_size`` rows
    batch_tokens: AtLeast0 = 0
    #: examples longer than seq_len: split into several rows, or keep the first seq_len
    #: tokens (keeps a trace's prompt with its first frames)
    long: Literal["split", "truncate"] = "truncate"
    #: examples drawn per shuffle window; packing and bucketing happen within a window
    window: AtLeast1 = 512


class OptimConfig(Config, frozen=True, kw_only=True):
    #: "adamw", or "muon": Muon (momentum orthogonalized by Newton-Schulz) on the blocks'
    #: weight matrices and AdamW on the rest (embeddings, output head, norms, gates); Muon's
    #: step is scaled to AdamW's RMS, so ``lr`` and ``weight_decay`` carry over
    name: Literal["adamw", "muon"] = "adamw"
    lr: NonNegative = 1e-3
    #: the learning rate decays to lr * min_lr_ratio at the last step
    min_lr_ratio: Fraction = 0.1
    warmup_steps: AtLeast0 = 20
    decay: Literal["cosine", "linear", "constant"] = "cosine"
    weight_decay: NonNegative = 0.1
    beta1: Beta = 0.9
    beta2: Beta = 0.95
    eps: Positive = 1e-8
    grad_clip: NonNegative = 1.0  # max global grad norm; 0 disables clipping
    muon_momentum: Beta = 0.95  # with name = "muon": its (Nesterov) momentum


class CheckpointConfig(Config, frozen=True, kw_only=True):
    interval: AtLeast0 = 0  # save every N steps (0: only at the end)
    keep: AtLeast1 = 2  # keep the last k checkpoints
    final: bool = True  # save after the last step
    resume: bool = True  # continue from the run directory's latest checkpoint


class ParallelConfig(Config, frozen=True, kw_only=True):
    #: data-parallel (FSDP2) degree; -1: world size / tp
    dp: Annotated[int, msgspec.Meta(ge=-1)] = -1
    tp: AtLeast1 = 1  # tensor-parallel degree (DTensor)
    #: with tp > 1: shard norms and the residual stream over the sequence (needed by async-tp)
    sequence_parallel: bool = True
    activation_checkpointing: bool = False


class HardwareConfig(Config, frozen=True, kw_only=True):
    #: a `registry("hardware")` name: auto, cpu, cuda, h100-fp8, async-tp
    backend: str = "auto"
    #: passed to the backend's factory, e.g. {recipe = "rowwise"} or {peak_tflops = 989}
    options: dict[str, Any] = {}


class MetricsConfig(Config, frozen=True, kw_only=True):
    log_every: AtLeast1 = 1  # steps between logged records (every `logging.backends` logger)
    eval_every: AtLeast0 = 0  # steps between held-out losses (0: only at the end)
    eval_batches: AtLeast1 = 8  # batches of held-out data per evaluation
    progress: bool = True  # the progress bar


class TrainConfig(Config, frozen=True, kw_only=True):
    run_dir: str = "runs/train"
    seed: int = 0
    steps: AtLeast1 = 200
    #: seconds of training; when set, the LR decays on the share of this budget spent
    #: (warmup stays in steps), and every ``budget_every`` steps the step count is refitted
    #: to the time left at the recent step time (capped by ``steps``), so the run ends
    #: within the budget
    time_budget: NonNegative = 0.0
    budget_every: AtLeast1 = 5
    grad_accum: AtLeast1 = 1
    #: with d > 0, an exponential moving average of the weights (each step: avg += (1 - d)
    #: * (weights - avg)) is kept, checkpointed, and becomes the model at the end of the run
    ema_decay: Beta = 0.0
    #: tokens of each row whose logits are computed at once in the loss
    loss_chunk: AtLeast1 = 1024
    #: a flavor name plus ModelConfig overrides: {flavor = "tiny", n_layers = 2}
    model: dict[str, Any] = msgspec.field(default_factory=lambda: {"flavor": "tiny"})
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    parallel: ParallelConfig = ParallelConfig()
    hardware: HardwareConfig = HardwareConfig()
    metrics: MetricsConfig = MetricsConfig()
    #: experiment tracking: backends = ["jsonl", "tensorboard", "wandb"] (logger plugins)
    logging: LoggingConfig = LoggingConfig()

    def model_config(self) -> ModelConfig:
        """The flavor named by ``model.flavor`` with the other ``model.*`` keys applied."""
        fields = dict(self.model)
        base = flavor(str(fields.pop("flavor", "tiny")))
        merged = msgspec.to_builtins(base) | fields
        return convert_config(ModelConfig, merged, source="train config", prefix="model")


def load_train_config(path: Path | str | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    cfg = load_config(TrainConfig, path, overrides)
    cfg.model_config()  # fail early on a bad model key
    if not cfg.data.sources:
        raise ConfigError(
            "config key data.sources: no training data; add [[data.sources]] with a path "
            "(a `cwm data build` directory or .jsonl/.msgpack records)"
        )
    return cfg
