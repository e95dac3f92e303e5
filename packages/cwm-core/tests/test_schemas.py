import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import frames, messages, texts

from cwm.core.schemas import (
    SCHEMA_VERSION,
    AnyRecord,
    Chat,
    Document,
    Episode,
    Message,
    Task,
    TestOutcome,
    ToolCall,
    Trace,
    Trajectory,
    Turn,
)

ids = st.text(min_size=1, max_size=8)
traces = st.builds(
    Trace,
    id=ids,
    source=texts(),
    entry=ids,
    entry_line=st.integers(1, 9),
    call=texts(),
    frames=frames(specials=True),
    outcome=st.sampled_from(["returned", "raised", "truncated", "crashed", "invalid"]),
    result=st.none() | texts(),
)
tasks = st.builds(
    Task,
    id=ids,
    instruction=texts(),
    fail_to_pass=st.lists(ids, max_size=3),
    pass_to_pass=st.lists(ids, max_size=3),
)
turns = st.builds(
    Turn,
    action=texts(),
    tool_call=st.none() | st.builds(ToolCall, ids, texts()),
    observation=messages(),
)
trajectories = st.builds(
    Trajectory,
    id=ids,
    task=tasks,
    prompt=st.lists(messages(), max_size=2),
    turns=st.lists(turns, max_size=3),
    patch=st.none() | texts(),
    reward=st.none() | st.floats(-1, 1),
    tests=st.none()
    | st.builds(
        TestOutcome,
        resolved=st.booleans(),
        statuses=st.dictionaries(ids, st.sampled_from(["passed", "failed"])),
    ),
)


@st.composite
def episodes(draw: st.DrawFn) -> Episode:
    n = draw(st.integers(0, 6))
    return Episode(
        id=draw(ids),
        task_id=draw(ids),
        token_ids=draw(st.lists(st.integers(0, 2**20), min_size=n, max_size=n)),
        loss_mask=draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        logprobs=draw(st.lists(st.floats(-50, 0), min_size=n, max_size=n)),
        policy_version=draw(st.integers(0, 99)),
        reward=draw(st.floats(-1, 1)),
    )


records = st.one_of(
    traces,
    trajectories,
    tasks,
    st.builds(Document, id=ids, text=texts()),
    st.builds(Chat, id=ids, messages=st.lists(messages(), max_size=3)),
    episodes(),
)


@given(records)
def test_every_record_round_trips_through_json_and_msgpack(record):
    for module in (msgspec.json, msgspec.msgpack):
        assert module.decode(module.encode(record), type=AnyRecord) == record


def test_records_are_tagged_and_versioned():
    doc = json.loads(msgspec.json.encode(Document(id="d", text="x")))
    assert doc["kind"] == "document" and doc["schema_version"] == SCHEMA_VERSION
    frame = json.loads(
        msgspec.json.encode(
            Trace(
                id="t", source="", entry="f", entry_line=1, call="f()", frames=[], outcome="invalid"
            )
        )
    )
    assert frame["kind"] == "trace"


def test_frames_are_tagged_by_event():
    text = (
        b'{"kind":"trace","id":"t","source":"","entry":"f","entry_line":1,"call":"f()","outcome":"returned",'
        b'"frames":[{"event":"call","line":"def f():","locals":{}},{"event":"return","line":"x","value":"1"}]}'
    )
    trace = msgspec.json.decode(text, type=AnyRecord)
    assert [type(f).__name__ for f in trace.frames] == ["CallFrame", "ReturnFrame"]
    assert trace.ended


def test_trajectory_messages_interleave_turns():
    prompt = [Message(role="system", content="s"), Message(role="user", content="fix it")]
    turn = Turn(
        action="<tool: bash>\nls\n</tool>",
        tool_call=ToolCall("bash", "ls"),
        observation=Message(role="tool", tool="bash", content="a.py"),
    )
    traj = Trajectory(id="j", task=Task(id="t", instruction="fix it"), prompt=prompt, turns=[turn])
    assert [m.header for m in traj.messages()] == ["system", "user", "assistant", "tool: bash"]


def test_task_from_swebench_instance():
    instance = {
        "instance_id": "astropy__astropy-12907",
        "repo": "astropy/astropy",
        "base_commit": "d16bfe05",
        "problem_statement": "Modeling's separability_matrix ...",
        "patch": "diff --git a/x b/x",
        "test_patch": "diff --git a/t b/t",
        "FAIL_TO_PASS": '["test_a"]',
        "PASS_TO_PASS": ["test_b"],
        "version": "4.3",
        "environment_setup_commit": "298ccb47",
    }
    task = Task.from_swebench(instance)
    assert (task.id, task.repo, task.fail_to_pass, task.pass_to_pass) == (
        "astropy__astropy-12907",
        "astropy/astropy",
        ["test_a"],
        ["test_b"],
    )
    assert task.meta == {"version": "4.3", "environment_setup_commit": "298ccb47"}


def test_episode_lengths_must_agree():
    with pytest.raises(ValueError, match="same length"):
        Episode(
            id="e",
            task_id="t",
            token_ids=[1, 2],
            loss_mask=[True],
            logprobs=[0.0],
            policy_version=0,
            reward=0,
        )
