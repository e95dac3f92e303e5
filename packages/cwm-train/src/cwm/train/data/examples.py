"""Records -> training examples: token ids and a loss mask of the same length.

``mask[i]`` says whether token ``i`` is a training target (predicted from the
tokens before it). The rule per record kind (``mask = "auto"``):

- `Document`: every token (pre-training);
- `Trace`: the frames and the end token, not the source prompt (``after_prompt``);
- `Chat` and `Trajectory` (as its messages): the content and ``<|eot_id|>`` of
  assistant messages only (SFT), never the role headers.

``all`` trains on every token of any record; ``after_prompt`` and
``assistant`` force one of the rules above where it applies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from cwm.core.errors import CwmError
from cwm.core.formats.chat import encode_chat
from cwm.core.formats.trace import trace_segments
from cwm.core.schemas import Chat, Document, Message, Trace, Trajectory
from cwm.core.tokenizer import Tokenizer

Example = tuple[NDArray[np.int64], NDArray[np.bool_]]


def example(tok: Tokenizer, record: Any, mask: str = "auto") -> Example:
    """The token ids of ``record`` and its loss mask under rule ``mask``."""
    if isinstance(record, Document):
        ids = tok.encode(record.text, bos=True, eos=True)
        return _arrays(ids, [True] * len(ids) if mask in ("auto", "all") else _refuse(record, mask))
    if isinstance(record, Trace):
        seg = trace_segments(tok, record)
        ids = seg.ids()
        if mask == "all":
            return _arrays(ids, [True] * len(ids))
        if mask in ("auto", "after_prompt"):
            n = len(seg.prompt)
            return _arrays(ids, [False] * n + [True] * (len(ids) - n))
        return _refuse(record, mask)
    if isinstance(record, Chat | Trajectory):
        messages = record.messages if isinstance(record, Chat) else record.messages()
        if mask == "all":
            ids = encode_chat(tok, messages)
            return _arrays(ids, [True] * len(ids))
        if mask in ("auto", "assistant"):
            return _arrays(*chat_with_mask(tok, messages))
        return _refuse(record, mask)
    raise CwmError(
        f"record {getattr(record, 'id', '?')!r} of kind {_kind(record)!r} cannot be trained on; "
        "use documents, traces, chats or trajectories"
    )


def chat_with_mask(tok: Tokenizer, messages: list[Message]) -> tuple[list[int], list[bool]]:
    """The chat's ids (as `encode_chat` writes them) with assistant content + eot marked."""
    ids, mask = [tok.bos_id], [False]
    for message in messages:
        part = encode_chat(tok, [message], bos=False)  # messages encode independently
        header = (
            len(
                encode_chat(
                    tok, [Message(role=message.role, content="", tool=message.tool)], bos=False
                )
            )
            - 1
        )
        trained = message.role == "assistant"
        ids += part
        mask += [False] * header + [trained] * (len(part) - header)
    return ids, mask


def _arrays(ids: list[int], mask: list[bool]) -> Example:
    return np.asarray(ids, dtype=np.int64), np.asarray(mask, dtype=np.bool_)


def _refuse(record: Any, mask: str) -> Example:
    raise CwmError(
        f"mask {mask!r} does not apply to {_kind(record)} records (record {record.id!r}); "
        "use auto or all for this source"
    )


def _kind(record: Any) -> str:
    """The record's ``kind`` tag (msgspec keeps it in the struct config, not as a field)."""
    return str(type(record).__struct_config__.tag or type(record).__name__)
