"""Loss masks: what each record kind trains on."""

import pytest

from cwm.core.errors import CwmError
from cwm.core.formats.chat import encode_chat
from cwm.core.formats.trace import trace_segments
from cwm.core.schemas import (
    CallFrame,
    Chat,
    Document,
    LineFrame,
    Message,
    ReturnFrame,
    Task,
    ToolCall,
    Trace,
    Trajectory,
    Turn,
)
from cwm.core.tokenizer import Tokenizer
from cwm.train.data.examples import example

TOK = Tokenizer()
SOURCE = "def double(x):\n    y = x * 2\n    return y\n"
TRACE = Trace(
    id="t",
    source=SOURCE,
    entry="double",
    entry_line=1,
    call="double(3)",
    outcome="returned",
    result="6",
    frames=[
        CallFrame(line="def double(x):", lineno=1, locals={"x": "3"}),
        LineFrame(line="    y = x * 2", lineno=2, locals={"x": "3"}),
        LineFrame(line="    return y", lineno=3, locals={"x": "3", "y": "6"}),
        ReturnFrame(line="    return y", lineno=3, value="6"),
    ],
)
CHAT = [
    Message(role="system", content="Be brief."),
    Message(role="user", content="2+2?"),
    Message(role="assistant", content="4"),
    Message(role="user", content="and 3+3?"),
    Message(role="assistant", content="6"),
]


def trained_text(ids, mask) -> str:
    return TOK.decode([int(i) for i, m in zip(ids, mask) if m])


def test_documents_train_on_every_token():
    ids, mask = example(TOK, Document(id="d", text="import os\n"))
    assert ids[0] == TOK.bos_id and ids[-1] == TOK.token_id("<|end_of_text|>")
    assert mask.all() and len(ids) == len(mask)


def test_traces_train_on_frames_and_end_not_on_the_source():
    ids, mask = example(TOK, TRACE)
    seg = trace_segments(TOK, TRACE)
    assert ids.tolist() == seg.ids()
    assert not mask[: len(seg.prompt)].any() and mask[len(seg.prompt) :].all()
    assert trained_text(ids, mask).startswith('<|call_sep|>{"x": "3"}')
    _, everything = example(TOK, TRACE, "all")
    assert everything.all()


def test_chats_train_on_assistant_content_and_eot_only():
    ids, mask = example(TOK, Chat(id="c", messages=CHAT))
    assert ids.tolist() == encode_chat(TOK, CHAT)  # the same ids the chat format writes
    assert trained_text(ids, mask) == "4<|eot_id|>6<|eot_id|>"


def test_trajectories_train_on_the_agent_turns():
    task = Task(id="task", instruction="fix it")
    turn = Turn(
        action="<tool: bash>\nls\n</tool>",
        tool_call=ToolCall("bash", "ls"),
        observation=Message(role="tool", tool="bash", content="a.py"),
    )
    traj = Trajectory(id="tr", task=task, prompt=CHAT[:2], turns=[turn, turn])
    ids, mask = example(TOK, traj)
    assert ids.tolist() == encode_chat(TOK, traj.messages())
    assert trained_text(ids, mask) == "<tool: bash>\nls\n</tool><|eot_id|>" * 2


def test_a_mask_that_does_not_apply_is_an_error():
    with pytest.raises(CwmError, match="does not apply to document"):
        example(TOK, Document(id="d", text="x"), "assistant")
    with pytest.raises(CwmError, match="cannot be trained on"):
        example(TOK, Task(id="t", instruction="x"))
