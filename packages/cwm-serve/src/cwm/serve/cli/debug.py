"""``cwm debug``: the neural debugger on the command line (scripted or interactive)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from cwm.core.errors import CwmError

HELP = """commands:
  s, step          next frame; on a call, step into the function
  n, next          next frame; a call is stepped over (its return is forced)
  o, out           until the current function returns
  c, continue      until the trace ends
  set NAME VALUE   give a local a new value (repr text) in the current frame
  p, print [NAME]  locals of the current frame, predicted and actual
  b, back          drop the last frame
  q, quit"""


@click.command("debug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--call", "call", required=True, help='The call to trace, e.g. --call "f(3)".')
@click.option("--checkpoint", type=click.Path(file_okay=False), required=True,
              help="Model checkpoint (native, hf or meta).")  # fmt: skip
@click.option("--steps", type=int, default=None, help="Predict N frames (step) and exit.")
@click.option("--commands", default=None,
              help='Run these commands and exit, e.g. "n; n; s; set x 5; c".')  # fmt: skip
@click.option("--tracer", default=None, help="Tracer plugin for the actual trace (default: any).")
@click.option("--temperature", default=0.0, show_default=True, help="0: greedy.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--threads", type=int, default=None,
              help="CPU threads for torch (default: torch's choice; 1 suits tiny models).")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)  # fmt: skip
def debug(file: str, call: str, checkpoint: str, steps: int | None, commands: str | None,
          tracer: str | None, temperature: float, device: str, threads: int | None,
          fmt: str) -> None:  # fmt: skip
    """Predict the execution of CALL in FILE frame by frame with a CWM model, next to the
    actual trace when a tracer plugin is installed.

    Without --steps/--commands it reads commands from the terminal (type 'help'), or one
    per line from a pipe.
    """
    from cwm.serve.debugger.actual import agreement, align, entry_line, trace_actual
    from cwm.serve.debugger.session import DebugSession
    from cwm.serve.debugger.view import as_json, show_frame, summary
    from cwm.serve.engine import EngineConfig, LLMEngine

    if threads:
        import torch

        torch.set_num_threads(threads)
    source = Path(file).read_text().replace("\r\n", "\n")
    actual, note = trace_actual(source, call, tracer=tracer, module=Path(file).stem)
    click.echo(note, err=True)
    if actual is not None and actual.outcome in ("invalid", "crashed"):
        raise CwmError(f"the tracer could not run {call!r}: {actual.error}")
    line = actual.entry_line if actual is not None else entry_line(source, call)
    engine = LLMEngine.from_checkpoint(checkpoint, EngineConfig(kv_cache_mib=64), device=device)
    session = DebugSession(engine, source, line, temperature=temperature)
    real = actual.frames if actual is not None else None
    text = fmt == "text"

    def show_current(only: str | None = None) -> None:
        if not text or not session.frames:
            return
        k = len(session.frames) - 1
        a = align(session.frames, real)[-1] if real is not None else None
        actual_frame = real[a] if real is not None and a is not None else None
        click.echo(show_frame(k, session.frames[-1], actual_frame, only=only))

    def run(command: str) -> bool:
        """Run one command; False to quit."""
        words = shlex.split(command)
        if not words:
            return True
        verb, args = words[0], words[1:]
        before, was_done = len(session.frames), session.done
        if verb in ("q", "quit", "exit"):
            return False
        if verb in ("h", "help", "?"):
            click.echo(HELP)
        elif verb in ("s", "step"):
            session.step() if session.frames else session.predict()
        elif verb in ("n", "next"):
            session.next() if session.frames else session.predict()
        elif verb in ("o", "out"):
            session.out()
        elif verb in ("c", "continue"):
            session.run()
        elif verb in ("b", "back"):
            session.back()
        elif verb == "set":
            if len(args) < 2:
                raise CwmError("usage: set NAME VALUE (VALUE is repr text, e.g. set x 5)")
            try:
                session.set_local(args[0], " ".join(args[1:]))
            except ValueError as exc:
                raise CwmError(str(exc)) from None
            show_current()
        elif verb in ("p", "print"):
            show_current(args[0] if args else None)
        else:
            raise CwmError(f"unknown command {verb!r}; type 'help'")
        if text and len(session.frames) > before and verb not in ("set", "p", "print"):
            show_current()
        if session.done and not was_done:
            if session.error:
                click.echo(f"-- stopped: {session.error}", err=True)
            elif text:
                click.echo("-- the trace ended (<|end_of_text|>)")
        return True

    if steps is not None or commands is not None:
        script = [c.strip() for c in (commands or "").split(";")] + ["step"] * (steps or 0)
        for command in script:
            if session.done or not run(command):
                break
    elif sys.stdin.isatty():
        click.echo(source.rstrip() + "\n" + "-" * 60 + "\n" + HELP)
        session.predict()
        show_current()
        while True:
            try:
                command = input("(cwm-dbg) ")
            except EOFError:
                break
            try:
                if not run(command):
                    break
            except CwmError as exc:
                click.echo(f"Error: {exc}", err=True)
    else:
        for command in sys.stdin.read().splitlines():
            if not run(command):
                break

    score = agreement(session.frames, real) if real is not None else None
    if text:
        click.echo(summary(score))
    else:
        payload = {
            "note": note, "call": call, "entry_line": line, "ended": session.ended, "error": session.error,
            "frames": as_json(session.frames, align(session.frames, real) if real is not None else
                              [None] * len(session.frames), real),
            "agreement": None if score is None else {
                "frames": score.frames, "exact": score.exact, "frame_rate": score.frame_rate,
                "values": score.values, "values_equal": score.values_equal, "value_rate": score.value_rate,
            },
        }  # fmt: skip
        click.echo(json.dumps(payload, indent=2))
