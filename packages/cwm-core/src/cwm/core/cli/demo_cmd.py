"""``cwm demo``: a tour of the foundation on embedded defaults (tokenizer, formats, plugins)."""

from __future__ import annotations

import inspect
import json

import click

EXAMPLE = """def count_vowels(word):
    n = 0
    for ch in word:
        if ch in "aeiou":
            n += 1
    return n
"""


def _example_trace():  # type: ignore[no-untyped-def]
    """The trace of count_vowels("tea"), written out as the tracer records it."""
    from cwm.core.schemas import CallFrame, LineFrame, ReturnFrame, Trace

    lines = EXAMPLE.split("\n")
    frames = [CallFrame(line=lines[0], lineno=1, locals={"word": "'tea'"})]
    n, ch = 0, None
    frames.append(LineFrame(line=lines[1], lineno=2, locals={"word": "'tea'"}))
    for c in "tea":
        state = {"word": "'tea'", "n": str(n)} | ({"ch": repr(ch)} if ch else {})
        frames.append(LineFrame(line=lines[2], lineno=3, locals=state))
        ch = c
        state = {"word": "'tea'", "n": str(n), "ch": repr(ch)}
        frames.append(LineFrame(line=lines[3], lineno=4, locals=state))
        if c in "aeiou":
            frames.append(LineFrame(line=lines[4], lineno=5, locals=state))
            n += 1
    state = {"word": "'tea'", "n": str(n), "ch": repr(ch)}
    frames.append(LineFrame(line=lines[2], lineno=3, locals=state))
    frames.append(LineFrame(line=lines[5], lineno=6, locals=state))
    frames.append(ReturnFrame(line=lines[5], lineno=6, value=str(n)))
    return Trace(id="demo", source=EXAMPLE, entry="count_vowels", entry_line=1,
                 call='count_vowels("tea")', frames=frames, outcome="returned", result=str(n))  # fmt: skip


@click.command("demo")
def demo() -> None:
    """Show the tokenizer, the chat/tool/trace formats and the installed plugins."""
    from cwm.core.formats.chat import encode_chat, render_chat, system_prompt
    from cwm.core.formats.tools import render_tool_call
    from cwm.core.formats.trace import TraceText, decode_trace, encode_trace, render_trace
    from cwm.core.plugins import KINDS, registry
    from cwm.core.schemas import Message, ToolCall
    from cwm.core.tokenizer import Tokenizer

    tok = Tokenizer()
    code = inspect.getsource(inspect)
    ids = tok.encode(code)
    click.secho("== tokenizer", bold=True)
    click.echo(f"{tok.path.name}: {tok.n_ranks} BPE ranks + 256 specials = {tok.n_vocab} ids")
    click.echo(
        f"inspect.py: {len(code):,} chars -> {len(ids):,} tokens ({len(code) / len(ids):.2f} chars/token)"
    )

    click.secho("\n== chat + tool call (reasoning mode)", bold=True)
    call = render_tool_call(
        ToolCall("bash", "python -m pytest -q tests/"),
        before="<think>\nRun the tests first.\n</think>\n",
    )
    chat = [
        Message(
            role="system",
            content=system_prompt(reasoning=True, environment="You are in a repository."),
        ),
        Message(role="user", content="Fix the failing test."),
        Message(role="assistant", content=call),
        Message(role="tool", tool="bash", content="1 failed, 12 passed"),
    ]
    click.echo(render_chat(chat, generation_prompt=True, reasoning=True))
    click.echo(
        f"-> {len(encode_chat(tok, chat, generation_prompt=True, reasoning=True))} token ids"
    )

    click.secho("\n== execution trace", bold=True)
    trace = _example_trace()
    text = render_trace(trace)
    click.echo(text.replace("<|frame_sep|>", "<|frame_sep|>\n"))
    assert decode_trace(tok, encode_trace(tok, trace)) == TraceText.of(trace)
    click.echo(f"-> {len(encode_trace(tok, trace))} token ids; decodes back to the same frames")

    click.secho("\n== plugins", bold=True)
    counts = {kind: registry(kind).names() for kind in KINDS}
    click.echo(json.dumps(counts))
