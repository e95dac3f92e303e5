"""``cwm eval``: run a task with a policy and score it (cheap to import: work happens inside)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("eval")
@click.argument("task")
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rows (JSONL) instead of the task's own dataset.",
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, path_type=Path),
    help="Run a checkpoint in this process (the engine, all episodes batched).",
)
@click.option("--endpoint", help="An OpenAI-compatible server's base URL (…/v1).")
@click.option("--model", help="The model to ask the endpoint for (default: the first it lists).")
@click.option(
    "--api-key", help="The endpoint's key (default: env CWM_API_KEY, else OPENAI_API_KEY)."
)
@click.option(
    "--context-len",
    type=click.IntRange(min=1),
    help="The endpoint model's context length, for servers that do not report max_model_len.",
)
@click.option(
    "--policy",
    type=click.Choice(["oracle"]),
    help="oracle: the environment's reference answers (checks the harness).",
)
@click.option(
    "--samples",
    "-k",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Samples per row (pass@1..K, majority@K).",
)
@click.option(
    "--temperature", type=click.FloatRange(min=0), help="Override the task's temperature."
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N rows.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory (default runs/eval/TASK); an existing one is resumed.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a task key, e.g. --set sampling.max_tokens=128.",
)
@click.option(
    "--best-of",
    is_flag=True,
    help="swe only: also write K reproduction tests per row and pick one of the K patches "
    "with them (best@K beside pass@1 and majority@K).",
)
@click.option(
    "--logger",
    "loggers",
    multiple=True,
    metavar="NAME",
    help="A logger plugin for the summary's metrics, repeatable: jsonl (default, "
    "OUT/metrics.jsonl), tensorboard (OUT/tensorboard), wandb.",
)
@click.option("--device", default="cpu", show_default=True, help="Device for --checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def eval_command(
    task: str,
    data: Path | None,
    checkpoint: Path | None,
    endpoint: str | None,
    model: str | None,
    api_key: str | None,
    context_len: int | None,
    policy: str | None,
    samples: int,
    temperature: float | None,
    limit: int | None,
    out: Path | None,
    overrides: tuple[str, ...],
    best_of: bool,
    loggers: tuple[str, ...],
    device: str,
    quiet: bool,
) -> None:
    """Run TASK (a built-in name or a .toml file) and write samples.jsonl and summary.json.

    \b
    cwm eval output-prediction --policy oracle
    cwm eval trace-prediction --checkpoint $(ls -d runs/demo/run/checkpoints/step-* | tail -1) --limit 20
    cwm eval output-prediction --endpoint http://127.0.0.1:8000/v1 -k 5 --temperature 0.8
    cwm eval swe --data swebench.jsonl --endpoint http://127.0.0.1:8000/v1 -k 8 --best-of
    """
    import msgspec

    from cwm.core.errors import CwmError
    from cwm.rl.eval.best_of import evaluate_best_of
    from cwm.rl.eval.run import evaluate
    from cwm.rl.eval.task import load_task
    from cwm.rl.policies import make_policy

    chosen = [x for x in (checkpoint, endpoint, policy) if x is not None]
    if len(chosen) != 1:
        raise click.UsageError("choose one of --checkpoint DIR, --endpoint URL or --policy oracle")
    if (model or api_key or context_len) and not endpoint:
        raise click.UsageError("--model, --api-key and --context-len go with --endpoint")
    try:
        spec = load_task(
            task,
            [
                *overrides,
                *([f"sampling.temperature={temperature}"] if temperature is not None else []),
            ],
        )
        if loggers:
            chosen_loggers = msgspec.structs.replace(spec.logging, backends=list(loggers))
            spec = msgspec.structs.replace(spec, logging=chosen_loggers)
        if checkpoint is not None:
            agent = make_policy(f"engine:{checkpoint}", device=device)
        elif endpoint is not None:
            agent = make_policy(
                f"openai:{endpoint}", model=model, api_key=api_key, context_len=context_len
            )
        else:
            agent = make_policy("oracle")
        try:
            summary = (evaluate_best_of if best_of else evaluate)(
                spec,
                agent,
                out=out or Path("runs/eval") / spec.name,
                data=data,
                samples=samples,
                limit=limit,
                progress=not quiet,
            )
        finally:
            agent.close()
    except CwmError as exc:
        raise click.ClickException(str(exc)) from None
    where = out or Path("runs/eval") / spec.name
    best = summary["metrics"].get(f"best@{samples}") if best_of else None
    click.echo(
        f"{spec.name}: score {summary['score']:.4f} ± {summary['score_stderr']:.4f} "
        + (f"(best@{samples} {best['mean']:.4f}) " if best else "")
        + f"over {summary['rows']} rows ({summary['samples']} samples); see {where}/summary.md"
    )
