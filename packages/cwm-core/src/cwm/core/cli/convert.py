"""``cwm convert``: rewrite a checkpoint in another format."""

from __future__ import annotations

import click

from cwm.core.cli.model import FORMATS
from cwm.core.torch_extra import require_torch


@click.command("convert")
@click.option("--to", "to", type=click.Choice(FORMATS), required=True, help="Target format.")
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.argument("dst", type=click.Path(file_okay=False))
def convert(to: str, src: str, dst: str) -> None:
    """Convert the checkpoint in SRC (native, hf or meta; detected) to the --to format in DST.

    \b
    cwm convert ckpt/ ckpt-hf/ --to hf        # for transformers / vLLM
    cwm convert ckpt-hf/ ckpt-meta/ --to meta # Meta's params.json layout
    """
    require_torch("cwm convert")
    from cwm.core.checkpoint import convert as run

    source = run(src, dst, to=to)
    click.echo(f"converted {source} checkpoint {src} -> {to} checkpoint {dst}")
