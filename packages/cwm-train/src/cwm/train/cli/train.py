"""``cwm train``: run the trainer from a TOML config; ``cwm train plot RUN``: its curves."""

from __future__ import annotations

from pathlib import Path

import click

from cwm.core.cli import CwmGroup
from cwm.core.cli.options import config_options


@click.group(
    "train",
    cls=CwmGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@config_options
@click.option(
    "--no-progress", is_flag=True, help="No progress bar (logs still go to RUN/metrics.jsonl)."
)
@click.pass_context
def train(
    ctx: click.Context, config: str | None, overrides: tuple[str, ...], no_progress: bool
) -> None:
    """Train a CWM model: pre-training, mid-training or SFT, as the config says.

    \b
      cwm train --config packages/cwm-train/configs/midtrain-tiny.toml
      cwm train --config run.toml --set steps=500 --set optim.lr=3e-4
      torchrun --nproc-per-node 2 -m cwm.train --config run.toml --set parallel.tp=2

    Resumes from RUN/checkpoints when the run directory has one.
    """
    if ctx.invoked_subcommand is not None:
        return
    from cwm.train.config import load_train_config
    from cwm.train.trainer import Trainer

    cfg = load_train_config(config, overrides)
    summary = Trainer(cfg, progress=not no_progress and cfg.metrics.progress).run()
    _report(summary)


def _report(summary: dict) -> None:
    import torch.distributed as dist

    if dist.is_initialized() and dist.get_rank() != 0:
        return
    click.echo(
        f"{summary['steps']} steps, loss {summary['loss']:.4f}"
        + (
            f", held-out loss {summary['eval_loss']:.4f}"
            if summary.get("eval_loss") is not None
            else ""
        )
        + f", {summary['tokens_per_s']:,.0f} tokens/s; checkpoint: {summary['checkpoint'] or 'none'}"
    )


@train.command("plot")
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG to write (default RUN/curves.png).",
)
def plot(run: Path, out: Path | None) -> None:
    """Write a PNG of RUN's loss, learning rate and throughput curves."""
    from cwm.train.plot import plot_run

    click.echo(plot_run(run, out or run / "curves.png"))
