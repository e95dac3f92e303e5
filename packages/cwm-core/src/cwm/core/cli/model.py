"""``cwm model``: list flavors, create a randomly initialized checkpoint, inspect, sample."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import msgspec

from cwm.core.cli import group
from cwm.core.cli.options import config_options
from cwm.core.config import load_config
from cwm.core.errors import CwmError
from cwm.core.model.config import FLAVORS, ModelConfig, flavor
from cwm.core.torch_extra import require_torch

#: `cwm.core.checkpoint.FORMATS`, named here so the CLI loads without torch
FORMATS = ("native", "hf", "meta")
DTYPES = ("float32", "bfloat16", "float16")

model = group("model", "Create, inspect and sample CWM models.")


def _describe(config: ModelConfig) -> dict[str, object]:
    return {
        "params": config.num_params(),
        "params_without_embedding": config.num_params(embedding=False),
        "train_flops_per_token": config.flops_per_token(config.max_seq_len),
        "layer_windows": config.layer_windows(),
        "config": msgspec.to_builtins(config),
    }


@model.command("flavors")
def flavors() -> None:
    """List the model flavors with their size."""
    for name, config in FLAVORS.items():
        click.echo(
            f"{name:8} {config.num_params() / 1e6:10,.1f}M params  dim {config.dim:5}  "
            f"layers {config.n_layers:3}  heads {config.n_heads}/{config.n_kv_heads}  "
            f"windows {config.local_window}/{config.global_window}  "
            f"vocab {config.vocab_size} ({config.vocab})"
        )


@model.command("init")
@click.option(
    "--flavor",
    "flavor_name",
    default="tiny",
    show_default=True,
    type=click.Choice(list(FLAVORS)),
    help="Model shape to start from.",
)
@click.option("--seed", default=0, show_default=True, help="Initialization seed.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="native", show_default=True)
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True)
@config_options
@click.argument("directory", type=click.Path(file_okay=False))
def init(
    flavor_name: str,
    seed: int,
    fmt: str,
    dtype: str,
    config: str | None,
    overrides: tuple[str, ...],
    directory: str,
) -> None:
    """Write a randomly initialized checkpoint of a flavor into DIRECTORY.

    --set changes the flavor's fields, e.g. --set n_layers=2 --set local_window=128.
    """
    require_torch("cwm model init")
    from cwm.core.checkpoint import ensure_empty, save_checkpoint
    from cwm.core.checkpoint.dtypes import dtype_of
    from cwm.core.model.transformer import build_model

    ensure_empty(Path(directory))  # before spending minutes on a large init
    preset = msgspec.to_builtins(flavor(flavor_name))
    cfg = load_config(ModelConfig, config, overrides, preset=preset)
    _check_memory(cfg, dtype_of(dtype).itemsize, flavor_name, dtype)
    net = build_model(cfg, dtype=dtype_of(dtype), seed=seed)
    save_checkpoint(net, directory, format=fmt)
    click.echo(
        f"wrote {fmt} checkpoint of {flavor_name} ({net.num_params():,} params) to {directory}"
    )


def _check_memory(config: ModelConfig, itemsize: int, name: str, dtype: str) -> None:
    """Refuse up front what would be killed by the OOM killer halfway through."""
    need = config.num_params() * itemsize
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > 0.8 * have:
        raise CwmError(
            f"{name} in {dtype} needs {need / 2**30:.0f} GiB of memory and this machine has "
            f"{have / 2**30:.0f} GiB; pick a smaller flavor or --dtype bfloat16"
        )


@model.command("info")
@click.argument("target")
def info(target: str) -> None:
    """Shape, size and FLOPs of a flavor name or a checkpoint directory (any format).

    A checkpoint is checked first: a truncated or missing tensor file, or a config
    that disagrees with the tensor shapes, is an error (exit 1)."""
    if target in FLAVORS and not Path(target).exists():
        click.echo(json.dumps({"flavor": target, **_describe(flavor(target))}, indent=2))
        return
    require_torch("cwm model info on a checkpoint")
    from cwm.core.checkpoint import verify

    fmt, config = verify(target)
    click.echo(json.dumps({"format": fmt, **_describe(config)}, indent=2))


@model.command("generate")
@click.option("--max-new-tokens", default=32, show_default=True)
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False))
@click.argument("prompt")
def generate(max_new_tokens: int, checkpoint: str, prompt: str) -> None:
    """Greedy continuation of PROMPT (text) with the model in CHECKPOINT."""
    require_torch("cwm model generate")
    import torch

    from cwm.core.checkpoint import load_checkpoint
    from cwm.core.model.generate import greedy
    from cwm.core.tokenizer import Tokenizer

    net = load_checkpoint(checkpoint)
    tok = Tokenizer.for_model(net.config)
    if net.config.vocab_size != tok.n_vocab:
        raise CwmError(
            f"the model's vocabulary ({net.config.vocab_size}) is not its tokenizer's "
            f"({net.config.vocab}: {tok.n_vocab}); generate from token ids in Python instead"
        )
    ids = torch.tensor([tok.encode(prompt, bos=True)])
    [new] = greedy(net, ids, max_new_tokens, stop_ids=tok.stop_ids)
    click.echo(prompt + tok.decode(new))
