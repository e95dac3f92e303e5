import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import frames, sources

from cwm.core.formats import FormatError
from cwm.core.formats.trace import (
    TraceText,
    decode_trace,
    encode_trace,
    parse_trace,
    render_trace,
    trace_segments,
)
from cwm.core.schemas import CallFrame, LineFrame, ReturnFrame, Trace
from cwm.core.tokenizer import Tokenizer

TOK = Tokenizer()


def trace_text(src, frames_, ended) -> TraceText:
    source, entry_line = src
    return TraceText(source=source, entry_line=entry_line, frames=frames_, ended=ended)


@given(sources(), frames(), st.booleans())
def test_text_round_trip(src, frames_, ended):
    t = trace_text(src, frames_, ended)
    assert parse_trace(render_trace(t)) == t


@given(sources(specials=True), frames(specials=True), st.booleans())
def test_token_round_trip(src, frames_, ended):
    t = trace_text(src, frames_, ended)
    assert decode_trace(TOK, encode_trace(TOK, t)) == t


SOURCE = "def f(x):\n    y = x + 1\n    return g(y)\n\ndef g(z):\n    return z * 2"
FRAMES = [
    CallFrame(line="def f(x):", lineno=1, locals={"x": "1"}),
    LineFrame(line="    y = x + 1", lineno=2, locals={"x": "1"}),
    LineFrame(line="    return g(y)", lineno=3, locals={"x": "1", "y": "2"}),
    CallFrame(line="def g(z):", lineno=5, locals={"z": "2"}),
    LineFrame(line="    return z * 2", lineno=6, locals={"z": "2"}),
    ReturnFrame(line="    return z * 2", lineno=6, value="4"),
    ReturnFrame(line="    return g(y)", lineno=3, value="4"),
]
TRACE = Trace(
    id="t",
    source=SOURCE,
    entry="f",
    entry_line=1,
    call="f(1)",
    frames=FRAMES,
    outcome="returned",
    result="4",
)


def test_exact_cwm_layout_and_unchanged_shorthand():
    text = render_trace(TRACE)
    assert text.startswith(
        "<|begin_of_text|><|trace_context_start|>def f(x):  # << START_OF_TRACE\n    y = x + 1"
    )
    frames_ = text.split("<|frame_sep|>")[1:]
    assert frames_[0] == '<|call_sep|>{"x": "1"}<|action_sep|>def f(x):'
    assert frames_[1] == '<|line_sep|>{"x": ".."}<|action_sep|>    y = x + 1'
    assert frames_[2] == '<|line_sep|>{"x": "..", "y": "2"}<|action_sep|>    return g(y)'
    assert frames_[3] == '<|call_sep|>{"z": "2"}<|action_sep|>def g(z):'  # a new scope shows all
    assert frames_[5] == '<|return_sep|><|action_sep|>    return z * 2<|arg_sep|>"4"'
    assert frames_[-1] == "<|end_of_text|>"
    assert parse_trace(text) == TraceText.of(TRACE)


def test_segments_split_prompt_frames_and_end():
    seg = trace_segments(TOK, TRACE)
    assert seg.prompt[:2] == [TOK.bos_id, TOK.token_id("<|trace_context_start|>")]
    assert seg.prompt[-1] == TOK.token_id("<|frame_sep|>")
    assert len(seg.frames) == len(FRAMES) and all(
        f[-1] == TOK.token_id("<|frame_sep|>") for f in seg.frames
    )
    assert seg.end == [TOK.eos_id] and seg.ids() == encode_trace(TOK, TRACE)


def test_truncated_trace_has_no_end_token():
    cut = Trace(
        id="t",
        source=SOURCE,
        entry="f",
        entry_line=1,
        call="f(1)",
        frames=FRAMES[:3],
        outcome="truncated",
        error="step limit 3",
    )
    assert not render_trace(cut).endswith("<|end_of_text|>")
    assert parse_trace(render_trace(cut)).ended is False


def test_locals_are_cwm_json():
    text = render_trace(TRACE)
    locals_text = text.split("<|call_sep|>")[1].split("<|action_sep|>")[0]
    assert json.loads(locals_text) == {"x": "1"} and locals_text == json.dumps({"x": "1"})


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda t: t.replace("  # << START_OF_TRACE", ""), "exactly one line"),
        (lambda t: t.replace('{"x": "1"}', '{"x": 1}', 1), "JSON object of strings"),
        (lambda t: t.replace('{"x": "1"}', '{"w": ".."}', 1), "no earlier value"),
        (lambda t: t.replace('<|arg_sep|>"4"', "<|arg_sep|>4", 1), "JSON string"),
        (lambda t: t.replace("<|end_of_text|>", "<|end_of_text|>x"), "nothing after"),
        (lambda t: t.replace("<|arg_sep|>", "<|frame_sep|>", 1), "expected <\\|arg_sep\\|>"),
    ],
)
def test_malformed_trace(mutate, match):
    with pytest.raises(FormatError, match=match):
        parse_trace(mutate(render_trace(TRACE)))
