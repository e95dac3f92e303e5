"""The CWM chat format.

    <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>...

ROLE is ``system``, ``user``, ``assistant`` or ``tool: NAME``. A generation
prompt ends with the assistant header and ``\n\n``; in reasoning mode the
system prompt asks for ``<think>`` ... ``</think>`` and the prompt ends with
``<think>\n``. As token ids, the role, the ``\n\n`` and the content are each
encoded on their own, as CWM does. Content is written as given (CWM strips
message bodies before encoding; strip them when you build the messages if
you want that).
"""

from __future__ import annotations

import msgspec

from cwm.core.formats.errors import FormatError
from cwm.core.formats.pieces import Cursor, Piece, id_pieces, piece_ids, text_pieces
from cwm.core.schemas import ROLES, Message
from cwm.core.tokenizer import Tokenizer
from cwm.core.tokenizer import specials as sp

DEFAULT_DESCRIPTION = "You are a helpful AI assistant."
THINK_START = "<think>\n"
THINK_END = "</think>"
REASONING_INSTRUCTION = (
    " You always reason before responding, using the following format:\n\n"
    "<think>\nyour internal reasoning\n</think>\nyour external response"
)


def system_prompt(
    description: str = DEFAULT_DESCRIPTION,
    *,
    reasoning: bool = False,
    environment: str | None = None,
) -> str:
    """CWM's system prompt: the description, the reasoning instruction, the environment."""
    prompt = description.strip() + (REASONING_INSTRUCTION if reasoning else "")
    if environment and environment.strip():
        prompt += "\n\n# Environment\n\n" + environment.strip()
    return prompt


class ChatPrompt(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed chat: its messages and how the text around them was framed."""

    messages: list[Message]
    bos: bool = True
    generation_prompt: bool = False  # ends with an open assistant header
    reasoning: bool = False  # ... followed by "<think>\n"


def _segments(
    messages: list[Message], bos: bool, generation_prompt: bool, reasoning: bool
) -> list[Piece]:
    if reasoning and not generation_prompt:
        raise FormatError("reasoning=True needs generation_prompt=True: <think> opens the reply")
    out: list[Piece] = [(True, sp.BEGIN_OF_TEXT)] if bos else []
    turns = [(m.header, m.content) for m in messages]
    for header, content in turns:
        out += [(True, sp.START_HEADER), (False, header), (True, sp.END_HEADER), (False, "\n\n")]
        out += [(False, content), (True, sp.EOT)]
    if generation_prompt:
        out += [
            (True, sp.START_HEADER),
            (False, "assistant"),
            (True, sp.END_HEADER),
            (False, "\n\n"),
        ]
        if reasoning:
            out.append((False, THINK_START))
    return out


def render_chat(
    messages: list[Message],
    *,
    bos: bool = True,
    generation_prompt: bool = False,
    reasoning: bool = False,
) -> str:
    return "".join(text for _, text in _segments(messages, bos, generation_prompt, reasoning))


def encode_chat(
    tok: Tokenizer,
    messages: list[Message],
    *,
    bos: bool = True,
    generation_prompt: bool = False,
    reasoning: bool = False,
) -> list[int]:
    return piece_ids(tok, _segments(messages, bos, generation_prompt, reasoning))


def _message(header: str) -> tuple[str, str | None]:
    if header.startswith("tool: ") and len(header) > len("tool: "):
        return "tool", header[len("tool: ") :]
    if header in ROLES and header != "tool":
        return header, None
    raise FormatError(
        f"chat: unknown role header {header!r}; expected system, user, assistant or 'tool: NAME'"
    )


def _parse(pieces: list[Piece]) -> ChatPrompt:
    cur = Cursor(pieces, "chat")
    bos = cur.at(sp.BEGIN_OF_TEXT)
    if bos:
        cur.special(sp.BEGIN_OF_TEXT)
    messages: list[Message] = []
    while not cur.done():
        cur.special(sp.START_HEADER)
        header = cur.text()
        cur.special(sp.END_HEADER)
        sep = cur.text()
        if not sep.startswith("\n\n"):
            cur.fail("'\\n\\n' after the role header")
        content = sep[2:]
        if cur.done():  # an open assistant turn: the generation prompt
            if header != "assistant" or content not in ("", THINK_START):
                raise FormatError(
                    "chat: the text ends inside a message; only an empty assistant "
                    "header (optionally with '<think>\\n') may end a prompt"
                )
            return ChatPrompt(
                messages=messages, bos=bos, generation_prompt=True, reasoning=content == THINK_START
            )
        cur.special(sp.EOT)
        role, tool = _message(header)
        messages.append(Message(role=role, content=content, tool=tool))  # type: ignore[arg-type]
    return ChatPrompt(messages=messages, bos=bos)


def parse_chat(text: str) -> ChatPrompt:
    return _parse(text_pieces(text))


def decode_chat(tok: Tokenizer, ids: list[int]) -> ChatPrompt:
    return _parse(id_pieces(tok, ids))


def split_reasoning(reply: str) -> tuple[str | None, str]:
    """An assistant reply in reasoning mode -> (reasoning, answer).

    The reply continues a prompt that ended with ``<think>\\n``, so it holds the
    reasoning, then ``</think>``, then the answer. Without ``</think>`` the whole
    reply is the answer and the reasoning is None.
    """
    reasoning, sep, answer = reply.partition(THINK_END)
    if not sep:
        return None, reply
    return reasoning.removeprefix(THINK_START).rstrip("\n"), answer.lstrip("\n")
