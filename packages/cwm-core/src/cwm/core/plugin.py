"""cwm-core's built-in plugins, registered through the ``cwm`` entry point like any other.

Cheap to import: torch is imported inside the attention factories and the
model commands, so ``cwm plugins`` works without the torch extra.
"""

from __future__ import annotations

from typing import Any

from cwm.core.plugins import hookimpl
from cwm.core.torch_extra import require_torch


@hookimpl
def register_commands(cli: Any) -> None:
    from cwm.core.cli.convert import convert
    from cwm.core.cli.model import model
    from cwm.core.cli.plugins import plugins_command
    from cwm.core.cli.tokenizer import tokenizer

    cli.add_command(plugins_command)
    cli.add_command(tokenizer)
    cli.add_command(model)
    cli.add_command(convert)


def sdpa(**options: Any) -> Any:
    """torch scaled_dot_product_attention with a dense mask (reference; CPU training)."""
    require_torch("attention 'sdpa'")
    from cwm.core.attention.sdpa import SdpaAttention

    return SdpaAttention(**options)


def banded(**options: Any) -> Any:
    """SDPA per query block over only the keys in reach (fast on CPU with windows or packing)."""
    require_torch("attention 'banded'")
    from cwm.core.attention.banded import BandedAttention

    return BandedAttention(**options)


def flex(**options: Any) -> Any:
    """FlexAttention BlockMask (GPU training; forward only on CPU)."""
    require_torch("attention 'flex'")
    from cwm.core.attention.flex import FlexAttention

    return FlexAttention(**options)


def flash(**options: Any) -> Any:
    """flash-attn varlen and paged kernels (needs flash-attn and a CUDA GPU)."""
    require_torch("attention 'flash'")
    from cwm.core.attention.flash import FlashAttention

    return FlashAttention(**options)


@hookimpl
def register_attention_backends() -> dict[str, Any]:
    return {"sdpa": sdpa, "banded": banded, "flex": flex, "flash": flash}


def jsonl(**options: Any) -> Any:
    """RUN/metrics.jsonl, one JSON object a line (the default)."""
    from cwm.core.loggers.jsonl import JsonlLogger

    return JsonlLogger(**options)


def tensorboard(**options: Any) -> Any:
    """TensorBoard event files in RUN/tensorboard (extra cwm-core[tensorboard])."""
    from cwm.core.loggers.tensorboard_logger import TensorBoardLogger

    return TensorBoardLogger(**options)


def wandb(**options: Any) -> Any:
    """A Weights & Biases run in RUN/wandb, offline by default (extra cwm-core[wandb])."""
    from cwm.core.loggers.wandb_logger import WandbLogger

    return WandbLogger(**options)


@hookimpl
def register_loggers() -> dict[str, Any]:
    return {"jsonl": jsonl, "tensorboard": tensorboard, "wandb": wandb}
