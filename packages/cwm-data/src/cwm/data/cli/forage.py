"""``cwm forage``: build a repository's image, make validated tasks, record trajectories."""

from __future__ import annotations

import json

import click

from cwm.core.cli.options import config_options


@click.command("forage")
@click.option(
    "--repo", help="A repository directory, or an sdist on the registry: toolz / toolz==1.2.0."
)
@click.option("--tasks", "n_tasks", type=int, help="How many validated tasks to make (default 4).")
@click.option("--out", help="Output directory (resumable).")
@click.option("--policy", help="oracle (default) or openai:BASE_URL.")
@click.option("--model", help="Model name for an openai policy (default: the server's first).")
@click.option("--sandbox", type=click.Choice(["auto", "docker", "local"]), help="Default auto.")
@click.option(
    "--swebench",
    type=click.Path(dir_okay=False),
    help="SWE-bench instances (JSONL): issue-fix tasks instead of mutate-fix.",
)
@click.option("--attempts", type=int, help="Episodes per task (default 1).")
@click.option("--seed", type=int, help="Order in which mutations are tried.")
@click.option("--reward", help="Reward plugin (default swe, from cwm-rl); 'none' for no reward.")
@config_options
def forage(config: str | None, overrides: tuple[str, ...], **options: object) -> None:
    """Make validated mutate-fix (or issue-fix) tasks from a real repository, run an agent
    policy on them in sandboxes, and write the graded trajectories as JSONL.

    \b
    cwm forage --repo toolz==1.2.0 --tasks 4 --out runs/toolz
    cwm forage --repo . --tasks 8 --out runs/me --policy openai:http://127.0.0.1:8000/v1
    """
    from cwm.core.config import load_config
    from cwm.data.forager.forage import ForageConfig
    from cwm.data.forager.forage import forage as run

    names = {"n_tasks": "tasks"}
    flags = [f"{names.get(k, k)}={v}" for k, v in options.items() if v is not None]
    flags = [("reward=" if f == "reward=none" else f) for f in flags]
    cfg = load_config(ForageConfig, config, [*flags, *overrides])
    summary = run(cfg)
    click.echo(json.dumps(summary, indent=2))
