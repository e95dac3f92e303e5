"""CWM tool calls: one ``<tool: NAME>`` block per assistant turn.

    <tool: bash>
    ls -la
    </tool>

Text may come before the block (the agent's explanation) and after it. Each
way a reply can get this wrong raises its own `ToolFormatError` subclass, so
an environment can tell the agent exactly what to fix.
"""

from __future__ import annotations

import re

from cwm.core.formats.errors import FormatError
from cwm.core.schemas import ToolCall

OPEN, CLOSE = "<tool:", "</tool>"
_CALL = re.compile(r"<tool: ([A-Za-z_][A-Za-z0-9_-]*)>\n(.*?)\n</tool>", re.DOTALL)


class ToolFormatError(FormatError):
    pass


class NoToolCall(ToolFormatError):
    pass


class MismatchedToolTags(ToolFormatError):
    pass


class MultipleToolCalls(ToolFormatError):
    pass


class EmptyToolCall(ToolFormatError):
    pass


def render_tool_call(call: ToolCall, *, before: str = "", after: str = "") -> str:
    return f"{before}<tool: {call.name}>\n{call.content}\n</tool>{after}"


def split_tool_call(reply: str) -> tuple[str, ToolCall, str]:
    """``reply`` -> (text before, the call, text after); the inverse of `render_tool_call`."""
    opens, closes = reply.count(OPEN), reply.count(CLOSE)
    calls = list(_CALL.finditer(reply))
    if opens == 0 and closes == 0:
        raise NoToolCall("no tool call found: end your reply with <tool: NAME>\\n...\\n</tool>")
    if opens != closes or len(calls) != opens:
        raise MismatchedToolTags(
            f"malformed tool call: {opens} '<tool: NAME>' and {closes} '</tool>' tags, "
            f"{len(calls)} well-formed; write '<tool: NAME>', a newline, the input, a newline, '</tool>'"
        )
    if len(calls) > 1:
        names = ", ".join(m.group(1) for m in calls)
        raise MultipleToolCalls(f"one tool call per turn, found {len(calls)} ({names})")
    m = calls[0]
    if not m.group(2).strip():
        raise EmptyToolCall(f"tool {m.group(1)!r} got empty input")
    return reply[: m.start()], ToolCall(m.group(1), m.group(2)), reply[m.end() :]


def parse_tool_call(reply: str) -> ToolCall:
    return split_tool_call(reply)[1]
