"""The neural debugger: `cwm debug` predicts a trace with the model, steered by debugger
commands, and compares it with the actual trace of the installed tracer plugin."""

from __future__ import annotations

import json
import subprocess

import pytest
from memorized import CALL, PROGRAM

from cwm.core.plugins import plugins, register_plugin, registry, unregister_plugin
from cwm.core.schemas import CallFrame, LineFrame, ReturnFrame
from cwm.serve.debugger.actual import agreement, align, entry_line, trace_actual
from cwm.serve.debugger.session import Predicted
from cwm.serve.testing import cwm_command

HAVE_TRACER = "settrace" in registry("tracer").names()
needs_tracer = pytest.mark.skipif(not HAVE_TRACER, reason="no tracer plugin installed (cwm-data)")


def debug(checkpoint, tmp_path, *args: str) -> dict:
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    result = subprocess.run(
        [
            *cwm_command(),
            "debug",
            str(program),
            "--call",
            CALL,
            "--checkpoint",
            str(checkpoint),
            "--format",
            "json",
            "--threads",
            "1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) | {"stderr": result.stderr}


@needs_tracer
def test_the_predicted_trace_agrees_with_the_actual_one(trace_checkpoint, tmp_path):
    out = debug(trace_checkpoint, tmp_path, "--commands", "c")
    assert "actual trace by the" in out["stderr"]
    assert out["ended"] and out["error"] is None
    # the call frame is the actual one, with CALL's arguments; the model predicts the rest
    assert out["frames"][0]["given"] and out["frames"][0]["predicted"] == {"xs": "[1, 2]"}
    assert not any(f["given"] for f in out["frames"][1:])
    assert out["agreement"]["frame_rate"] == 1.0
    assert out["agreement"]["frames"] == len(out["frames"]) - 1 == 14
    assert out["frames"][3]["predicted"] == {"xs": "[1, 2]", "out": "[]", "x": "1"}


@needs_tracer
def test_predict_call_makes_the_model_write_the_call_frame_too(trace_checkpoint, tmp_path):
    out = debug(trace_checkpoint, tmp_path, "--predict-call", "--steps", "2")
    assert [f["given"] for f in out["frames"]] == [False, False]
    assert out["frames"][0]["predicted"] == {"xs": "[1, 2]"}  # the memorized call
    assert out["agreement"]["frames"] == 2


@needs_tracer
def test_step_over_forces_the_return_and_stays_aligned(trace_checkpoint, tmp_path):
    out = debug(trace_checkpoint, tmp_path, "--commands", "n; n; n; n; n")
    events = [(f["event"], f["forced"]) for f in out["frames"]]
    assert events[4:7] == [("call", None), ("return", "return"), ("line", None)]
    assert out["frames"][5]["actual"]["values"] == {"<value>": "2"}  # twice's return, skipped to
    assert out["agreement"]["frame_rate"] == 1.0


@needs_tracer
def test_step_into_and_set_a_local(trace_checkpoint, tmp_path):
    out = debug(trace_checkpoint, tmp_path, "--commands", "s; s; s; s; set v 10; s")
    frames = out["frames"]
    assert (frames[4]["event"], frames[5]["forced"]) == ("call", "line")  # stepped into twice
    assert frames[4]["edited"] and frames[4]["predicted"] == {"v": "10"}
    assert frames[4]["actual"] is None and frames[5]["actual"] is None  # counterfactual
    assert out["agreement"]["frames"] == 3 and out["agreement"]["frame_rate"] == 1.0


def test_without_a_tracer_it_predicts_alone(memorized_checkpoint, tmp_path):
    if not HAVE_TRACER:  # the whole command, as a user without cwm-data runs it
        out = debug(memorized_checkpoint, tmp_path, "--steps", "2")
        assert "no tracer plugin is installed" in out["stderr"]
        assert out["agreement"] is None
        return
    assert trace_actual(PROGRAM, CALL)[0] is not None
    # take cwm-data's plugin out of this process for a moment
    tracers = [n for n, p in plugins().pm.list_name_plugin() if n.startswith("cwm-data:")]
    taken = [(n, plugins().pm.get_plugin(n)) for n in tracers]
    for name, _ in taken:
        unregister_plugin(name)
    try:
        trace, note = trace_actual(PROGRAM, CALL)
    finally:
        for name, plugin in taken:
            register_plugin(plugin, name)
    assert trace is None and "no tracer plugin is installed" in note
    assert trace_actual(PROGRAM, CALL)[0] is not None


def test_entry_line_from_the_call_expression():
    assert entry_line(PROGRAM, CALL) == 1
    assert entry_line(PROGRAM, "twice(3)") == 8
    source = "class Stack:\n    def __init__(self):\n        pass\n    def push(self, x):\n        pass\n"
    assert entry_line(source, "Stack().push(1)") == 4
    assert entry_line(source, "Stack()") == 2


def test_alignment_skips_a_stepped_over_callee():
    call = CallFrame(line="def f(x):", locals={"x": "1"})
    actual = [
        call,
        LineFrame(line="y = g(x)", locals={"x": "1"}),
        CallFrame(line="def g(v):", locals={"v": "1"}),
        LineFrame(line="return v", locals={"v": "1"}),
        ReturnFrame(line="return v", value="1"),
        LineFrame(line="return y", locals={"x": "1", "y": "1"}),
    ]
    predicted = [
        Predicted(actual[0]),
        Predicted(actual[1]),
        Predicted(actual[2]),
        Predicted(actual[4], forced="return"),
        Predicted(LineFrame(line="return y", locals={"x": "1", "y": "2"})),
    ]
    assert align(predicted, actual) == [0, 1, 2, 4, 5]
    score = agreement(predicted, actual)
    assert (score.frames, score.exact) == (5, 4)
    assert (score.values, score.values_equal) == (6, 5)


@needs_tracer
def test_commands_from_a_pipe_show_both_sides(trace_checkpoint, tmp_path):
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    result = subprocess.run(
        [
            *cwm_command(),
            "debug",
            str(program),
            "--call",
            CALL,
            "--checkpoint",
            str(trace_checkpoint),
            "--threads",
            "1",
        ],
        input="n\nn\nset out [7]\nb\nb\nb\nq\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "#0 call      -> def double_all(xs): [given]"
    assert "   xs               [1, 2]                           [1, 2]" in result.stdout
    assert "#2 line      -> for x in xs: [edited]" in result.stdout
    # `back` drops the predicted frames, never the given call: nothing left to score
    assert lines[-1] == "agreement: 0/0 frames exact (0.0%), values 0/0 (0.0%)"
