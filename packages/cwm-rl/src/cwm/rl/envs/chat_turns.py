"""Chat turns as token ids, for environments that talk to the model in CWM's chat format.

The prompt is the chat up to an open assistant header; the model's action is the
reply, ending with a stop token (``<|eot_id|>``) unless it was cut off; an
observation closes the reply when the model did not (so the context stays a
well-formed chat), then adds the environment's message and the next assistant
header.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cwm.core.formats.chat import encode_chat, split_reasoning
from cwm.core.schemas import Message
from cwm.core.tokenizer import Tokenizer
from cwm.core.tokenizer import specials as sp


def load_tokenizer(tokenizer: Tokenizer | str | Path | None) -> Tokenizer:
    """The environment's tokenizer: given, a path, or the default one (the model's must match)."""
    return tokenizer if isinstance(tokenizer, Tokenizer) else Tokenizer(tokenizer)


class ChatTurns:
    def __init__(self, tokenizer: Tokenizer, *, reasoning: bool = False):
        self.tok, self.reasoning = tokenizer, reasoning
        self.stops = {tokenizer.token_id(name) for name in sp.STOP_TOKENS}
        self.eot = tokenizer.token_id(sp.EOT)

    def prompt(self, messages: list[Message]) -> list[int]:
        return encode_chat(self.tok, messages, generation_prompt=True, reasoning=self.reasoning)

    def reply(self, action: Sequence[int]) -> str:
        """The text of a reply, without its stop token."""
        ids = [i for i in action if 0 <= i < self.tok.n_vocab]  # a model's vocab may be larger
        while ids and ids[-1] in self.stops:
            ids.pop()
        return self.tok.decode(ids)

    def answer(self, action: Sequence[int]) -> str:
        """The reply past its reasoning (in reasoning mode), else the whole reply."""
        text = self.reply(action)
        return split_reasoning(text)[1] if self.reasoning else text

    def closed(self, action: Sequence[int]) -> bool:
        return bool(action) and action[-1] in self.stops

    def observation(self, action: Sequence[int], message: Message) -> list[int]:
        """Tokens after ``action``: its missing ``<|eot_id|>``, ``message``, the next header."""
        head = [] if self.closed(action) else [self.eot]
        body = encode_chat(
            self.tok, [message], bos=False, generation_prompt=True, reasoning=self.reasoning
        )
        return head + body

    def action(self, text: str) -> list[int]:
        """A reply as the model would write it: its tokens and ``<|eot_id|>``."""
        return [*self.tok.encode(text), self.eot]
