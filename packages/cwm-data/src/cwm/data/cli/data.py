"""``cwm data``: build trace datasets from corpora."""

from __future__ import annotations

import json

import click

from cwm.core.cli import group
from cwm.core.cli.options import config_options

data = group(
    "data", "Build trace datasets from corpora (stdlib, packages, test suites, task files)."
)


@data.command("build")
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    metavar="SPEC",
    help="stdlib, package:NAME, directory:PATH, jsonl:PATH or pytest:REPO (repeatable; default stdlib).",
)
@click.option("--out", default=None, help="Output directory (default data/traces).")
@click.option(
    "--workers",
    type=click.IntRange(0, 512),
    default=None,
    help="Trace workers (default: one per core).",
)
@click.option(
    "--max-functions",
    type=click.IntRange(0),
    default=None,
    help="Harvest at most this many functions.",
)
@click.option("--force", is_flag=True, help="Replace an existing dataset in --out.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@config_options
def build(
    corpora: tuple[str, ...],
    out: str | None,
    workers: int | None,
    max_functions: int | None,
    force: bool,
    quiet: bool,
    config: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Trace corpora into a deduplicated, split, tokenized dataset of CWM traces.

    \b
    cwm data build                                   # the standard library into data/traces
    cwm data build --corpus package:networkx --out data/nx --set per_function=8
    cwm data build --corpus jsonl:tasks.jsonl --set trace.max_steps=5000
    """
    from cwm.core.config import load_config
    from cwm.data.dataset.build import build_dataset
    from cwm.data.dataset.config import BuildConfig

    flags = {
        "corpora": list(corpora) or None,
        "out": out,
        "workers": workers,
        "max_functions": max_functions,
    }
    sets = [
        f"{k}={json.dumps(v) if isinstance(v, list) else v}"
        for k, v in flags.items()
        if v is not None
    ]
    cfg = load_config(BuildConfig, config, [*overrides, *sets])
    report = build_dataset(cfg, force=force, progress=not quiet)
    everything = report.stats["all"]
    click.echo(
        f"wrote {everything['traces']} traces of {everything['functions']} functions to {report.out} "
        f"(train {report.stats['splits']['train']['traces']}, heldout "
        f"{report.stats['splits']['heldout']['traces']}) in {report.stats['seconds']['total']} s"
    )
