"""``cwm debug``: the neural debugger on the command line (scripted or interactive)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cwm.core.errors import CwmError
from cwm.serve.cli.options import set_threads, threads_option


@click.command("debug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--call", "call", required=True, help='The call to trace, e.g. --call "f(3)".')
@click.option(
    "--checkpoint",
    type=click.Path(file_okay=False),
    required=True,
    help="Model checkpoint (native, hf or meta).",
)
@click.option("--steps", type=int, default=None, help="Predict N frames (step) and exit.")
@click.option(
    "--commands", default=None, help='Run these commands and exit, e.g. "n; n; s; set x 5; c".'
)
@click.option("--tracer", default=None, help="Tracer plugin for the actual trace (default: any).")
@click.option(
    "--predict-call",
    is_flag=True,
    help="The model predicts the call frame too (its arguments included); by default the "
    "actual call frame, with the arguments CALL passes, starts the trace.",
)
@click.option("--temperature", default=0.0, show_default=True, help="0: greedy.")
@click.option("--device", default="cpu", show_default=True)
@threads_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def debug(
    file: str,
    call: str,
    checkpoint: str,
    steps: int | None,
    commands: str | None,
    tracer: str | None,
    predict_call: bool,
    temperature: float,
    device: str,
    threads: int | None,
    fmt: str,
) -> None:
    """Predict the execution of CALL in FILE frame by frame with a CWM model, next to the
    actual trace when a tracer plugin is installed (commands: `cwm.serve.debugger.repl`).

    Without --steps/--commands it reads commands from the terminal (type 'help'), or one
    per line from a pipe.
    """
    from cwm.serve.debugger.actual import entry_line, trace_actual
    from cwm.serve.debugger.repl import DebugRepl
    from cwm.serve.debugger.session import DebugSession
    from cwm.serve.engine import EngineConfig, LLMEngine

    set_threads(threads)
    source = Path(file).read_text().replace("\r\n", "\n")
    actual, note = trace_actual(source, call, tracer=tracer, module=Path(file).stem)
    click.echo(note, err=True)
    if actual is not None and actual.outcome in ("invalid", "crashed"):
        raise CwmError(f"the tracer could not run {call!r}: {actual.error}")
    line = actual.entry_line if actual is not None else entry_line(source, call)
    engine = LLMEngine.from_checkpoint(checkpoint, EngineConfig(kv_cache_mib=64), device=device)
    session = DebugSession(engine, source, line, temperature=temperature)
    repl = DebugRepl(session, actual.frames if actual is not None else None, text=fmt == "text")
    if actual is not None and actual.frames and not predict_call:
        session.give(actual.frames[0])  # the call and its arguments are the user's input
    if steps is not None or commands is not None:
        repl.show_current()  # the given call frame (interact() shows it too)
        script = [c.strip() for c in (commands or "").split(";")] + ["step"] * (steps or 0)
        repl.run_script(script)
    elif sys.stdin.isatty():
        repl.interact(source)
    else:
        repl.show_current()
        repl.run_script(
            sys.stdin.read().splitlines(), until_done=False
        )  # `back` may follow the end
    report = repl.report(note=note, call=call, entry_line=line)
    click.echo(report if isinstance(report, str) else json.dumps(report, indent=2))
