"""OpenAI chat requests in the CWM chat format, and replies back into OpenAI messages.

- Messages become CWM ``Message``s; a ``tool`` message takes the name of the tool
  call it answers (``tool_call_id``), so it is rendered as role ``tool: NAME``.
- ``tools`` are announced in the system prompt the way CWM expects them
  (``<tool: NAME>`` / input / ``</tool>`` and a description). A tool whose JSON
  parameters have a single string property takes that string as its raw input
  (``bash`` gets the command, not JSON); other tools take the arguments as JSON.
- Reasoning mode uses CWM's system prompt instruction and opens the reply with
  ``<think>\\n``; the reply's thinking comes back as ``reasoning_content``. A reply
  that ends before ``</think>`` was still thinking: all of it is reasoning.
- A CWM tool call in the reply becomes ``tool_calls`` (finish reason ``tool_calls``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from cwm.core.formats.chat import DEFAULT_DESCRIPTION, THINK_END, system_prompt
from cwm.core.formats.tools import OPEN, ToolFormatError, render_tool_call, split_tool_call
from cwm.core.schemas import Message, ToolCall
from cwm.serve.server.protocol import BadRequest, ChatRequest, FunctionDef


def _string_param(fn: FunctionDef | None) -> str | None:
    """The name of the function's only parameter, when it is a string."""
    props = ((fn and fn.parameters) or {}).get("properties") or {}
    if len(props) == 1:
        ((name, spec),) = props.items()
        if isinstance(spec, dict) and spec.get("type") == "string":
            return name
    return None


def _tools_text(functions: dict[str, FunctionDef]) -> str:
    parts = ["You have access to the following tools:"]
    for fn in functions.values():
        key = _string_param(fn)
        if key:
            spec = (fn.parameters or {})["properties"][key]
            shape = f"[{key}]"
            note = f" [{key}]: {spec['description']}" if spec.get("description") else ""
        else:
            shape = "[arguments as a JSON object]"
            note = f" Parameters (JSON schema): {json.dumps(fn.parameters or {})}"
        description = (fn.description or "").strip()
        parts.append(f"<tool: {fn.name}>\n{shape}\n</tool>\n{description}{note}".rstrip())
    return "\n\n".join(parts)


def to_cwm_content(fn: FunctionDef | None, arguments: str) -> str:
    """OpenAI tool-call arguments (JSON text) -> the input of a CWM tool call."""
    key = _string_param(fn)
    try:
        args = json.loads(arguments) if arguments else {}
    except json.JSONDecodeError:
        return arguments
    if key and isinstance(args, dict) and set(args) == {key} and isinstance(args[key], str):
        return args[key]
    return arguments


def to_openai_arguments(fn: FunctionDef | None, content: str) -> str:
    """The input of a CWM tool call -> OpenAI arguments (JSON text of an object)."""
    key = _string_param(fn)
    if key:
        return json.dumps({key: content})
    try:
        if isinstance(json.loads(content), dict):
            return content
    except json.JSONDecodeError:
        pass
    return json.dumps({"input": content})


class ChatPlan:
    """One chat request turned into CWM messages, and how to read the reply."""

    def __init__(self, request: ChatRequest):
        self.reasoning = request.wants_reasoning()
        offered = request.tools if request.tool_choice != "none" else None
        self.functions = {t.function.name: t.function for t in offered or []}
        if isinstance(request.tool_choice, dict):
            raise BadRequest("tool_choice naming a function is not supported; use 'auto' or 'none'")
        if not request.messages:
            raise BadRequest("messages must not be empty")
        self.messages = self._messages(request)

    def _messages(self, request: ChatRequest) -> list[Message]:
        names: dict[str, str] = {}  # tool_call_id -> function name
        out: list[Message] = []
        extra = _tools_text(self.functions) if self.functions else ""
        first = request.messages[0]
        if first.role not in ("system", "developer") and (self.reasoning or extra):
            out.append(self._system(DEFAULT_DESCRIPTION, extra))
        for m in request.messages:
            text = m.text()
            if m.role in ("system", "developer"):
                out.append(self._system(text, extra))
            elif m.role == "user":
                out.append(Message(role="user", content=text))
            elif m.role == "assistant":
                for call in m.tool_calls or []:
                    names[call.id or ""] = call.function.name
                    fn = self.functions.get(call.function.name)
                    content = to_cwm_content(fn, call.function.arguments)
                    text = render_tool_call(
                        ToolCall(call.function.name, content), before=text + "\n" if text else ""
                    )
                out.append(Message(role="assistant", content=text))
            elif m.role == "tool":
                name = m.name or names.get(m.tool_call_id or "")
                if not name:
                    raise BadRequest(
                        "a tool message needs a tool_call_id of an earlier tool call (or a name)"
                    )
                out.append(Message(role="tool", tool=name, content=text))
            else:
                raise BadRequest(
                    f"unknown message role {m.role!r}; expected system, user, assistant or tool"
                )
        return out

    def _system(self, description: str, tools: str) -> Message:
        text = description.strip() + ("\n\n" + tools if tools else "")
        return Message(
            role="system",
            content=system_prompt(text or DEFAULT_DESCRIPTION, reasoning=self.reasoning),
        )

    # -- the reply ---------------------------------------------------------------

    def split(self, text: str, *, final: bool) -> tuple[str, str]:
        """(reasoning, content) of the reply so far, each a prefix of its final value: text
        that a later token could still turn into ``</think>`` or a tool call is held back."""
        reasoning, content = "", text
        if self.reasoning:
            head, sep, rest = text.partition(THINK_END)
            if not sep:
                return (text if final else _hold(text, THINK_END)).rstrip("\n"), ""
            reasoning, content = head.rstrip("\n"), rest.lstrip("\n")
        if self.functions and not final:
            at = content.find(OPEN)
            content = content[:at] if at != -1 else _hold(content, OPEN)
        return reasoning, content

    def tool_calls(self, content: str) -> tuple[str, list[dict[str, Any]]]:
        """(content without the call, OpenAI tool_calls) when the reply makes a tool call."""
        if not self.functions:
            return content, []
        try:
            before, call, after = split_tool_call(content)
        except ToolFormatError:
            return content, []
        arguments = to_openai_arguments(self.functions.get(call.name), call.content)
        calls = [
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": call.name, "arguments": arguments},
            }
        ]
        return (before + after).strip(), calls


def _hold(text: str, marker: str) -> str:
    """``text`` without a tail that may be the beginning of ``marker``."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-n:]):
            return text[:-n]
    return text
