"""CWM's special tokens: a 256-slot block placed right after the BPE ranks.

A token's id is ``n_ranks + offset``. With CWM's 128,000-rank vocabulary,
``<|frame_sep|>`` is 128100 and ``<|eot_id|>`` is 128009. Unnamed slots are
``<|reserved_special_token_OFFSET|>``.
"""

from __future__ import annotations

NUM_RESERVED = 256

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
PAD = "<|pad|>"
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
EOM = "<|eom_id|>"
EOT = "<|eot_id|>"
FRAME_SEP = "<|frame_sep|>"
ACTION_SEP = "<|action_sep|>"
RETURN_SEP = "<|return_sep|>"
CALL_SEP = "<|call_sep|>"
LINE_SEP = "<|line_sep|>"
EXCEPTION_SEP = "<|exception_sep|>"
ARG_SEP = "<|arg_sep|>"
TRACE_CONTEXT_START = "<|trace_context_start|>"
THINKING_START = "<|reasoning_thinking_start|>"
THINKING_END = "<|reasoning_thinking_end|>"

NAMED_OFFSETS: dict[str, int] = {
    BEGIN_OF_TEXT: 0,
    END_OF_TEXT: 1,
    PAD: 4,
    START_HEADER: 6,
    END_HEADER: 7,
    EOM: 8,
    EOT: 9,
    FRAME_SEP: 100,
    ACTION_SEP: 101,
    RETURN_SEP: 102,
    CALL_SEP: 103,
    LINE_SEP: 104,
    EXCEPTION_SEP: 105,
    ARG_SEP: 106,
    TRACE_CONTEXT_START: 107,
    THINKING_START: 120,
    THINKING_END: 121,
}

#: generation stops at any of these
STOP_TOKENS: tuple[str, ...] = (END_OF_TEXT, EOM, EOT)


def special_tokens(n_ranks: int) -> dict[str, int]:
    """Every special token string and its id, for a BPE file of ``n_ranks`` ranks."""
    by_offset = {offset: name for name, offset in NAMED_OFFSETS.items()}
    return {
        by_offset.get(offset, f"<|reserved_special_token_{offset}|>"): n_ranks + offset
        for offset in range(NUM_RESERVED)
    }
