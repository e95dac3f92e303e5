"""Request bodies of the OpenAI-compatible API, validated by msgspec.

Fields a CWM engine cannot honour (penalties, logit bias, best_of, suffix) are
refused with a 400 rather than ignored. Extensions beyond OpenAI's fields:
``top_k``, ``stop_token_ids``, ``ignore_eos`` and, for chat, ``reasoning``
(also ``reasoning_effort`` or ``chat_template_kwargs.enable_thinking``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cwm.core.errors import CwmError


class BadRequest(CwmError):
    """A request the API refuses: answered with a 400 and this message."""


class ModelNotFound(CwmError):
    """A request for a model the server does not serve: answered with a 404."""


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class Sampling(msgspec.Struct, kw_only=True):
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    seed: int | None = None
    ignore_eos: bool = False
    user: str | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None

    def refuse_unsupported(self) -> None:
        if self.presence_penalty or self.frequency_penalty:
            raise BadRequest("presence_penalty and frequency_penalty are not supported")
        if self.logit_bias:
            raise BadRequest("logit_bias is not supported")

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class CompletionRequest(Sampling, kw_only=True):
    #: text, token ids, or a list of either (one completion per prompt)
    prompt: str | list[Any]
    logprobs: int | None = None
    echo: bool = False
    best_of: int | None = None
    suffix: str | None = None

    def prompts(self) -> list[str | list[int]]:
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if p and all(isinstance(t, int) and not isinstance(t, bool) for t in p):
            return [p]
        if p and all(isinstance(x, str) for x in p):
            return list(p)
        if p and all(isinstance(x, list) and x and all(isinstance(t, int) for t in x) for x in p):
            return list(p)
        raise BadRequest(
            "prompt must be a string, a list of token ids, or a non-empty list of either"
        )


class FunctionCall(msgspec.Struct):
    name: str
    arguments: str = ""


class ToolCallIn(msgspec.Struct):
    function: FunctionCall
    id: str | None = None
    type: str = "function"


class ContentPart(msgspec.Struct):
    type: str
    text: str | None = None


class ChatMessage(msgspec.Struct, kw_only=True):
    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            if any(p.type != "text" for p in self.content):
                raise BadRequest("only text content parts are supported")
            return "".join(p.text or "" for p in self.content)
        return self.content or ""


class FunctionDef(msgspec.Struct, kw_only=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolDef(msgspec.Struct):
    function: FunctionDef
    type: str = "function"


class ChatRequest(Sampling, kw_only=True):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    tools: list[ToolDef] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: bool | None = None
    reasoning_effort: str | None = None
    chat_template_kwargs: dict[str, Any] | None = None

    def wants_reasoning(self) -> bool:
        if self.reasoning is not None:
            return self.reasoning
        kwargs = self.chat_template_kwargs or {}
        if "enable_thinking" in kwargs:
            return bool(kwargs["enable_thinking"])
        return self.reasoning_effort not in (None, "none", "minimal")


def decode(body: bytes, kind: type[Any]) -> Any:
    """The request body as ``kind``, or a `BadRequest` that says what is wrong where."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:  # msgspec raises it for bad bytes inside a string
        raise BadRequest(
            f"the request body is not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
