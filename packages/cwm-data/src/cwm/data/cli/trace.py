"""``cwm trace``: trace one call of a file, or a whole tasks file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cwm.core.cli import group
from cwm.core.cli.options import config_options
from cwm.core.errors import CwmError

trace = group("trace", "Trace Python execution into CWM-format traces.")

_tracer_option = click.option(
    "--tracer",
    default=None,
    metavar="NAME",
    help="Tracer backend: auto (monitoring on 3.12+, else settrace), settrace or monitoring.",
)


_verbose_option = click.option(
    "--verbose", is_flag=True, help="Say which backend and recorder (C or Python) trace, on stderr."
)


def _config(
    config: str | None, overrides: tuple[str, ...], tracer: str | None, verbose: bool = False
):  # -> TraceConfig
    import msgspec

    from cwm.core.config import load_config
    from cwm.data.trace import TraceConfig, resolve
    from cwm.data.trace.accel import MISSING, recorder_name

    cfg = load_config(TraceConfig, config, overrides)
    backend = resolve(tracer or cfg.backend)  # fail early on a bad or unavailable backend
    recorder = recorder_name(cfg.accelerate)  # and on a C recorder asked for but not built
    if verbose:
        why = f" ({MISSING})" if recorder == "python" and MISSING else ""
        click.echo(
            f"cwm: tracing with the {backend} backend and the {recorder} recorder{why}", err=True
        )
    return msgspec.structs.replace(cfg, backend=tracer) if tracer else cfg


@trace.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--call", "call", required=True, help='The call to trace, e.g. --call "f(1, [2, 3])".'
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: the CWM trace format; json: the Trace record.",
)
@click.option("--module", default=None, help="The module name FILE runs as (default: its stem).")
@click.option("--no-sandbox", is_flag=True, help="Trace in this process: faster, no isolation.")
@_tracer_option
@_verbose_option
@config_options
def run(
    file: str,
    call: str,
    fmt: str,
    module: str | None,
    no_sandbox: bool,
    tracer: str | None,
    verbose: bool,
    config: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Run FILE as a module, evaluate the --call expression in it, and print its trace.

    \b
    cwm trace run examples/f.py --call "f(1, [2, 3])"
    cwm trace run examples/f.py --call "f(3)" --format json --set max_steps=500
    """
    import msgspec

    from cwm.core.formats.trace import render_trace
    from cwm.data.trace import trace_call

    path = Path(file)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CwmError(f"{file}: cannot read it as UTF-8 text: {exc}") from None
    cfg = _config(config, overrides, tracer, verbose)
    result = trace_call(
        source, call, config=cfg, sandbox=not no_sandbox, id=path.stem, module=module or path.stem
    )
    if fmt == "json":
        click.echo(msgspec.json.encode(result).decode())
        if result.outcome in ("invalid", "crashed"):  # the record is printed; the exit says so
            sys.exit(1)
        return
    if result.outcome in ("invalid", "crashed"):
        raise CwmError(f"{result.outcome}: {result.error}")
    click.echo(render_trace(result))
    if result.outcome == "truncated":
        click.echo(f"cwm: trace truncated: {result.error}", err=True)


@trace.command("batch")
@click.option(
    "--in",
    "tasks",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help='Tasks JSONL: {"id", "source", "call"} per line.',
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Traces JSONL (appended to; ids already there are skipped).",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 512))
@click.option("--shard", default=None, metavar="K/N", help="Take lines K, K+N, K+2N... (K from 0).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_tracer_option
@_verbose_option
@config_options
def batch(
    tasks: str,
    out: str,
    workers: int,
    shard: str | None,
    quiet: bool,
    tracer: str | None,
    verbose: bool,
    config: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Trace every task of a JSONL file into a JSONL file of trace records, in input order.

    \b
    cwm trace batch --in tasks.jsonl --out traces.jsonl --workers 4
    cwm trace batch --in tasks.jsonl --out traces-3.jsonl --shard 3/8
    """
    from cwm.data.trace import parse_shard, trace_batch

    if not out.endswith(".jsonl"):
        raise CwmError(f"--out {out}: the output must be a .jsonl file")
    summary = trace_batch(
        tasks,
        out,
        config=_config(config, overrides, tracer, verbose),
        workers=workers,
        shard=parse_shard(shard),
        progress=not quiet,
    )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items())) or "nothing new"
    click.echo(
        f"wrote {summary.written} traces to {out} ({counts}); {summary.skipped} already there"
    )
    if summary.duplicate_ids:
        click.echo(
            f"cwm: warning: skipped {summary.duplicate_ids} tasks whose id an earlier line "
            "already has (one record per id: the first)",
            err=True,
        )
    sys.stdout.flush()
