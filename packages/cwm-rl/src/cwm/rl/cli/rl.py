"""``cwm rl``: an RL run from a TOML config; ``cwm rl plot RUN``: its reward, staleness and
throughput curves."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cwm.core.cli import CwmGroup
from cwm.core.cli.options import config_options


@click.group(
    "rl",
    cls=CwmGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@config_options
@click.option("--no-progress", is_flag=True, help="No progress bar (RUN/metrics.jsonl still logs).")
@click.pass_context
def rl(
    ctx: click.Context, config: str | None, overrides: tuple[str, ...], no_progress: bool
) -> None:
    """Asynchronous RL on the engine and the trainer, as the config says.

    \b
      cwm rl --config packages/cwm-rl/configs/rl-tiny.toml --set init=$(ls -d runs/demo/run/checkpoints/step-* | tail -1)
      cwm rl --config rl.toml --set max_lag=0 --set steps=50
      torchrun --nproc-per-node 3 -m cwm.rl --config rl.toml   # 1 learner, 2 actors
      cwm rl plot runs/rl

    Resumes from RUN/checkpoints when the run directory has one.
    """
    if ctx.invoked_subcommand is not None:
        return
    from cwm.rl.run.config import load_rl_config
    from cwm.rl.run.loop import RLRun

    cfg = load_rl_config(config, overrides)
    progress = not no_progress and cfg.progress
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun: learner and actor ranks
        import torch

        from cwm.rl.run.distributed import run_distributed
        from cwm.train.distributed import init_world

        init_world("gloo", lambda _: torch.device("cpu"))  # the learner and actors on CPU
        summary = run_distributed(cfg, progress=progress)
        if summary is None:  # an actor rank
            return
    else:
        summary = RLRun(cfg, progress=progress).run()
    click.echo(
        f"{summary['steps']} steps, {summary['samples']} samples trained, "
        f"{summary.get('dropped_stale', 0)} dropped as stale, trainer idle "
        f"{100 * summary['trainer_idle_frac']:.0f}%; checkpoint: {summary.get('checkpoint') or 'none'}"
    )
    if heldout := summary.get("heldout_reward"):
        before = "n/a" if heldout["before"] is None else f"{heldout['before']:.4f}"
        click.echo(f"held-out {heldout['task']}: {before} before, {heldout['after']:.4f} after")


@rl.command("plot")
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG to write (default RUN/rl.png).",
)
def plot(run: Path, out: Path | None) -> None:
    """Write a PNG of RUN's reward per task, staleness and throughput."""
    from cwm.rl.run.plot import plot_run

    click.echo(plot_run(run, out or run / "rl.png"))
