import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import messages

from cwm.core.formats import FormatError
from cwm.core.formats.chat import (
    ChatPrompt,
    decode_chat,
    encode_chat,
    parse_chat,
    render_chat,
    split_reasoning,
    system_prompt,
)
from cwm.core.schemas import Message
from cwm.core.tokenizer import Tokenizer

TOK = Tokenizer()


def frame(bos: bool, gen: bool, reasoning: bool) -> dict:
    return {"bos": bos, "generation_prompt": gen, "reasoning": reasoning and gen}


@given(st.lists(messages(), max_size=5), st.booleans(), st.booleans(), st.booleans())
def test_text_round_trip(msgs, bos, gen, reasoning):
    opts = frame(bos, gen, reasoning)
    text = render_chat(msgs, **opts)
    assert parse_chat(text) == ChatPrompt(messages=msgs, **opts)


@given(st.lists(messages(specials=True), max_size=5), st.booleans(), st.booleans(), st.booleans())
def test_token_round_trip_with_any_content(msgs, bos, gen, reasoning):
    """As ids, content may even contain special-token strings: they stay ordinary text."""
    opts = frame(bos, gen, reasoning)
    ids = encode_chat(TOK, msgs, **opts)
    assert decode_chat(TOK, ids) == ChatPrompt(messages=msgs, **opts)


def test_exact_cwm_layout():
    msgs = [Message(role="user", content="hi"), Message(role="tool", tool="bash", content="ok")]
    assert render_chat(msgs, generation_prompt=True) == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
        "<|start_header_id|>tool: bash<|end_header_id|>\n\nok<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    ids = encode_chat(TOK, msgs[:1], bos=False)
    # role, "\n\n" and content are encoded separately, as CWM does
    assert ids == [
        TOK.token_id("<|start_header_id|>"),
        *TOK.encode("user"),
        TOK.token_id("<|end_header_id|>"),
        *TOK.encode("\n\n"),
        *TOK.encode("hi"),
        TOK.eot_id,
    ]


def test_reasoning_prompt():
    prompt = system_prompt(reasoning=True)
    assert prompt.startswith("You are a helpful AI assistant. You always reason before responding")
    assert "<think>\nyour internal reasoning\n</think>" in prompt
    text = render_chat(
        [Message(role="system", content=prompt)], generation_prompt=True, reasoning=True
    )
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n<think>\n")
    assert split_reasoning("step one\n</think>\nThe answer") == ("step one", "The answer")
    assert split_reasoning("no tags") == (None, "no tags")


@pytest.mark.parametrize(
    "text, match",
    [
        ("<|start_header_id|>robot<|end_header_id|>\n\nx<|eot_id|>", "unknown role"),
        ("<|start_header_id|>user<|end_header_id|>x<|eot_id|>", "expected '\\\\n\\\\n'"),
        ("<|start_header_id|>user<|end_header_id|>\n\nunfinished", "ends inside a message"),
        ("<|start_header_id|>user<|end_header_id|>\n\nx<|eom_id|>", "expected <\\|eot_id\\|>"),
    ],
)
def test_malformed_chat(text, match):
    with pytest.raises(FormatError, match=match):
        parse_chat(text)


def test_bad_message_roles():
    with pytest.raises(ValueError, match="unknown role"):
        Message(role="robot", content="x")
    with pytest.raises(ValueError, match="tool name"):
        Message(role="tool", content="x")
