"""``cwm demo``: the main job on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--time-budget",
    type=click.FloatRange(min=30),
    default=600,
    show_default=True,
    help="Seconds for the whole job: data build, training and evaluation.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/demo"),
    show_default=True,
    help="Directory for the dataset, the run and the report.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--logger",
    "loggers",
    multiple=True,
    metavar="NAME",
    help="Also log training to this logger plugin (tensorboard, wandb); repeatable.",
)
def demo(time_budget: float, out: Path, seed: int, quiet: bool, loggers: tuple[str, ...]) -> None:
    """Trace real code, train a small model on it, and score next-frame prediction.

    Builds a trace dataset from standard-library functions (`cwm data build`),
    trains the demo flavor on CPU within the time budget, evaluates held-out
    traces (teacher-forced next-frame exact match for the trained model, the
    untrained one and a copy-previous-frame baseline) and writes OUT/report.json,
    OUT/loss.png and OUT/summary.md.
    """
    from cwm.core.plugins import registry
    from cwm.train.demo.report import write_report
    from cwm.train.demo.run import run_demo

    for name in loggers:  # an unknown name fails now, not after the data build
        registry("logger").get(name)

    report = run_demo(
        out, time_budget, seed=seed, progress=not quiet, echo=click.echo, loggers=loggers
    )
    paths = write_report(out, report)
    click.echo("")
    click.echo(paths["summary"].read_text())
    click.echo(f"report: {paths['report']}  plot: {paths['plot']}  summary: {paths['summary']}")
