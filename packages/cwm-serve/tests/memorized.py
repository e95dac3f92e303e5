"""The conversations and the trace the memorized test model learns, and the model itself."""

from __future__ import annotations

from pathlib import Path

import msgspec
from serve_fixtures import memorize

from cwm.core.checkpoint import save_checkpoint
from cwm.core.formats.chat import encode_chat
from cwm.core.formats.trace import encode_trace, trace_segments
from cwm.core.plugins import registry
from cwm.core.schemas import Trace
from cwm.core.tokenizer import Tokenizer
from cwm.serve.server.chat import ChatPlan
from cwm.serve.server.protocol import ChatRequest

BASH = {"type": "function", "function": {
    "name": "bash", "description": "Run a bash command.",
    "parameters": {"type": "object", "required": ["command"],
                   "properties": {"command": {"type": "string", "description": "the command"}}}}}  # fmt: skip
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


def chat_prompt(tok: Tokenizer, body: dict) -> list[int]:
    plan = ChatPlan(msgspec.convert(body, ChatRequest))
    return encode_chat(tok, plan.messages, generation_prompt=True, reasoning=plan.reasoning)


def actual_trace() -> Trace | None:
    if "settrace" not in registry("tracer").names():
        return None
    return registry("tracer").create("settrace").trace(PROGRAM, CALL, module="program")


def build(directory: Path) -> Path:
    tok = Tokenizer()
    sequences, prompts = [], []
    for body, reply in ((TOOL_CHAT, TOOL_REPLY), (THINK_CHAT, THINK_REPLY)):
        prompt = chat_prompt(tok, body)
        sequences.append(prompt + tok.encode(reply) + [tok.eot_id])
        prompts.append(len(prompt))
    code = tok.encode(CODE_PROMPT)
    sequences.append(code + tok.encode(CODE_REPLY) + [tok.eos_id])
    prompts.append(len(code))
    trace = actual_trace()
    if trace is not None:
        sequences.append(encode_trace(tok, trace))
        prompts.append(len(trace_segments(tok, trace).prompt))
    save_checkpoint(memorize(sequences, prompts), directory)
    return directory
