"""The conversations and the trace the memorized test model learns, and the model itself."""

from __future__ import annotations

from pathlib import Path

import msgspec
from serve_fixtures import MEMORIZER, memorize

from cwm.core.checkpoint import save_checkpoint
from cwm.core.formats.chat import encode_chat
from cwm.core.formats.trace import encode_trace, trace_segments
from cwm.core.plugins import registry
from cwm.core.schemas import CallFrame, ReturnFrame, Trace
from cwm.core.tokenizer import Tokenizer
from cwm.serve.server.chat import ChatPlan
from cwm.serve.server.protocol import ChatRequest

#: the trace model's shape: the memorizer with the 4k vocabulary
TRACER = msgspec.structs.replace(MEMORIZER, vocab="cwm-code-4k", vocab_size=4096 + 256)

BASH = {
    "type": "function",
    "function": {
        "name": "bash",
        "description": "Run a bash command.",
        "parameters": {
            "type": "object",
            "required": ["command"],
            "properties": {"command": {"type": "string", "description": "the command"}},
        },
    },
}
TOOL_CHAT = {"messages": [{"role": "user", "content": "List the files in /tmp."}], "tools": [BASH]}
TOOL_REPLY = "I will list them.\n<tool: bash>\nls /tmp\n</tool>"
THINK_CHAT = {"messages": [{"role": "user", "content": "What is 2 + 2?"}], "reasoning": True}
THINK_REPLY = "Two and two make four.\n</think>\n4"
CODE_PROMPT = "def add(a, b):"
CODE_REPLY = "\n    return a + b\n"

PROGRAM = """def double_all(xs):
    out = []
    for x in xs:
        out.append(twice(x))
    return out


def twice(v):
    return v * 2
"""
CALL = "double_all([1, 2])"


def stepped_over(trace: Trace) -> Trace:
    """The trace as the debugger's step over sees it: callees' inner frames left out (the
    call frame is followed by its return frame)."""
    frames, depth = [], 0
    for frame in trace.frames:
        inner = depth >= 2
        depth += isinstance(frame, CallFrame)
        depth -= isinstance(frame, ReturnFrame)
        if not inner or (depth < 2 and isinstance(frame, ReturnFrame)):
            frames.append(frame)
    return msgspec.structs.replace(trace, frames=frames)


def forced_returns(tok: Tokenizer, trace: Trace) -> set[int]:
    """Token indexes of the return events that directly follow a callee's call frame:
    what step over forces."""
    segments = trace_segments(tok, trace)
    at, out = len(segments.prompt), set()
    for i, frame in enumerate(trace.frames):
        if i > 1 and isinstance(frame, ReturnFrame) and isinstance(trace.frames[i - 1], CallFrame):
            out.add(at)
        at += len(segments.frames[i])
    return out


def chat_prompt(tok: Tokenizer, body: dict) -> list[int]:
    plan = ChatPlan(msgspec.convert(body, ChatRequest))
    return encode_chat(tok, plan.messages, generation_prompt=True, reasoning=plan.reasoning)


def actual_trace() -> Trace | None:
    if "settrace" not in registry("tracer").names():
        return None
    return registry("tracer").create("settrace").trace(PROGRAM, CALL, module="program")


def build_chat(directory: Path) -> Path:
    """The chat model: the tool call, the reasoning reply and the code completion."""
    tok = Tokenizer()
    sequences, prompts = [], []
    for body, reply in ((TOOL_CHAT, TOOL_REPLY), (THINK_CHAT, THINK_REPLY)):
        prompt = chat_prompt(tok, body)
        sequences.append(prompt + tok.encode(reply) + [tok.eot_id])
        prompts.append(len(prompt))
    code = tok.encode(CODE_PROMPT)
    sequences.append(code + tok.encode(CODE_REPLY) + [tok.eos_id])
    prompts.append(len(code))
    save_checkpoint(memorize(sequences, prompts), directory)
    return directory


def build_tracer(directory: Path, trace: Trace) -> Path:
    """The trace model: the trace of CALL, and the same trace with callees stepped over.
    It has the 4k vocabulary, as `cwm demo`'s models do: `cwm debug` must encode with it."""
    tok = Tokenizer(TRACER.vocab)
    variants = (trace, stepped_over(trace))
    sequences = [encode_trace(tok, v) for v in variants]
    prompts = [len(trace_segments(tok, v).prompt) for v in variants]
    forced = [forced_returns(tok, v) for v in variants]
    save_checkpoint(memorize(sequences, prompts, forced, config=TRACER), directory)
    return directory
