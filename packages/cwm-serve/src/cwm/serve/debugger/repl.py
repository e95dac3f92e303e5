"""The debugger's command loop: commands in, a `DebugSession` steered, frames shown.

`DebugRepl` turns one command (``step``, ``set x 5``, ...) into a session call and
shows the new frame beside the actual one; ``cwm debug`` feeds it a script, a pipe
or a terminal, then prints `report` as text or JSON.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from typing import Any

import click

from cwm.core.errors import CwmError
from cwm.core.schemas import AnyFrame
from cwm.serve.debugger.actual import agreement, align
from cwm.serve.debugger.session import DebugSession
from cwm.serve.debugger.view import as_json, show_frame, summary

HELP = """commands:
  s, step          next frame; on a call, step into the function
  n, next          next frame; a call is stepped over (its return is forced)
  o, out           until the current function returns
  c, continue      until the trace ends
  set NAME VALUE   give a local a new value (repr text) in the current frame
  p, print [NAME]  locals of the current frame, predicted and actual
  b, back          drop the last predicted frame
  q, quit"""

QUIT = ("q", "quit", "exit")


class DebugRepl:
    def __init__(self, session: DebugSession, actual: list[AnyFrame] | None, *, text: bool):
        self.session = session
        self.actual = actual  # the tracer's frames, None without a tracer
        self.text = text  # False: JSON at the end only
        # verb -> (action, whether a new frame is shown afterwards)
        self.verbs: dict[str, tuple[Callable[[list[str]], Any], bool]] = {}
        for names, action, shows in (
            (("h", "help", "?"), lambda _: click.echo(HELP), False),
            (("s", "step"), lambda _: self._advance(session.step), True),
            (("n", "next"), lambda _: self._advance(session.next), True),
            (("o", "out"), lambda _: session.out(), True),
            (("c", "continue"), lambda _: session.run(), True),
            (("b", "back"), lambda _: session.back(), True),
            (("set",), self._set, False),
            (("p", "print"), lambda args: self.show_current(args[0] if args else None), False),
        ):
            self.verbs.update(dict.fromkeys(names, (action, shows)))

    def run(self, command: str) -> bool:
        """Run one command; False to quit."""
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise CwmError(f"cannot read the command {command!r}: {exc}") from None
        if not words:
            return True
        verb, args = words[0], words[1:]
        if verb in QUIT:
            return False
        if verb not in self.verbs:
            raise CwmError(f"unknown command {verb!r}; type 'help'")
        action, shows = self.verbs[verb]
        before, was_done = len(self.session.frames), self.session.done
        action(args)
        if shows and len(self.session.frames) > before:
            self.show_current()
        if self.session.done and not was_done:
            self._say_why_it_ended()
        return True

    def run_script(self, commands: Iterable[str], *, until_done: bool = True) -> None:
        """Commands until one quits (or the trace ends, with ``until_done``)."""
        for command in commands:
            if (until_done and self.session.done) or not self.run(command):
                break

    def interact(self, source: str) -> None:
        """The terminal loop: a bad command is reported and the loop goes on."""
        click.echo(source.rstrip() + "\n" + "-" * 60 + "\n" + HELP)
        if not self.session.frames:
            self.session.predict()
        self.show_current()
        while True:
            try:
                command = input("(cwm-dbg) ")
            except EOFError:
                break
            try:
                if not self.run(command):
                    break
            except CwmError as exc:
                click.echo(f"Error: {exc}", err=True)

    def show_current(self, only: str | None = None) -> None:
        if not self.text or not self.session.frames:
            return
        frames, real = self.session.frames, self.actual
        k = len(frames) - 1
        a = align(frames, real)[-1] if real is not None else None
        actual_frame = real[a] if real is not None and a is not None else None
        click.echo(show_frame(k, frames[-1], actual_frame, only=only))

    def report(self, *, note: str, call: str, entry_line: int) -> dict[str, Any] | str:
        """The end of a run: a summary line (text) or everything as a JSON-ready dict."""
        session, real = self.session, self.actual
        score = agreement(session.frames, real) if real is not None else None
        if self.text:
            return summary(score)
        aligned = align(session.frames, real) if real is not None else [None] * len(session.frames)
        rates = None
        if score is not None:
            rates = {
                "frames": score.frames,
                "exact": score.exact,
                "frame_rate": score.frame_rate,
                "values": score.values,
                "values_equal": score.values_equal,
                "value_rate": score.value_rate,
            }
        return {
            "note": note,
            "call": call,
            "entry_line": entry_line,
            "ended": session.ended,
            "error": session.error,
            "frames": as_json(session.frames, aligned, real),
            "agreement": rates,
        }

    def _advance(self, move: Callable[[], Any]) -> None:
        # before the first frame, stepping means predicting it
        move() if self.session.frames else self.session.predict()

    def _set(self, args: list[str]) -> None:
        if len(args) < 2:
            raise CwmError("usage: set NAME VALUE (VALUE is repr text, e.g. set x 5)")
        try:
            self.session.set_local(args[0], " ".join(args[1:]))
        except ValueError as exc:
            raise CwmError(str(exc)) from None
        self.show_current()

    def _say_why_it_ended(self) -> None:
        if self.session.error:
            click.echo(f"-- stopped: {self.session.error}", err=True)
        elif self.text:
            click.echo("-- the trace ended (<|end_of_text|>)")
