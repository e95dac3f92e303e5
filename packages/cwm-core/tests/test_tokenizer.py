import base64
import hashlib
import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cwm.core.errors import CwmError
from cwm.core.tokenizer import DEFAULT_VOCAB, Tokenizer, specials
from cwm.core.tokenizer.train import (
    count_chunks,
    python_files,
    read_texts,
    stdlib_dir,
    train_bpe,
    write_ranks,
)

TOK = Tokenizer()


def rank_file(path, n: int):
    """A tiktoken file of ``n`` ranks: the 256 bytes, then distinct multi-byte tokens."""
    tokens = [bytes([i]) for i in range(256)] + [b"t%d" % i for i in range(n - 256)]
    write_ranks(path, tokens)
    return path


def test_cwm_special_ids_with_a_128k_vocabulary(tmp_path):
    tok = Tokenizer(rank_file(tmp_path / "cwm.tiktoken", 128_000))
    expected = {
        "<|begin_of_text|>": 128000,
        "<|end_of_text|>": 128001,
        "<|pad|>": 128004,
        "<|start_header_id|>": 128006,
        "<|end_header_id|>": 128007,
        "<|eom_id|>": 128008,
        "<|eot_id|>": 128009,
        "<|frame_sep|>": 128100,
        "<|action_sep|>": 128101,
        "<|return_sep|>": 128102,
        "<|call_sep|>": 128103,
        "<|line_sep|>": 128104,
        "<|exception_sep|>": 128105,
        "<|arg_sep|>": 128106,
        "<|trace_context_start|>": 128107,
        "<|reasoning_thinking_start|>": 128120,
        "<|reasoning_thinking_end|>": 128121,
        "<|reserved_special_token_2|>": 128002,
        "<|reserved_special_token_255|>": 128255,
    }
    assert {name: tok.token_id(name) for name in expected} == expected
    assert tok.n_vocab == 128256 and len(tok.specials) == 256
    assert tok.stop_ids == {128001, 128008, 128009}


def test_embedded_vocabulary():
    assert TOK.n_ranks == 16384 and TOK.n_vocab == 16640
    assert TOK.token_id("<|frame_sep|>") == 16384 + 100 and TOK.eot_id == 16384 + 9
    # trained on code: common Python pieces are single tokens
    assert len(TOK.encode(" self")) == 1 and len(TOK.encode("    return")) <= 2


@given(st.text())
def test_encode_decode_round_trip(text):
    assert TOK.decode(TOK.encode(text)) == text


def test_special_strings_are_text_unless_asked():
    text = "x<|eot_id|>y"
    assert TOK.eot_id not in TOK.encode(text)
    assert TOK.encode_with_specials(text) == [*TOK.encode("x"), TOK.eot_id, *TOK.encode("y")]
    assert TOK.decode(TOK.encode_with_specials(text)) == text
    assert TOK.encode("a", bos=True, eos=True) == [TOK.bos_id, *TOK.encode("a"), TOK.eos_id]


def test_llama3_pre_tokenization_keeps_digits_in_threes():
    pieces = [TOK.decode([i]) for i in TOK.encode("12345678")]
    assert "".join(pieces) == "12345678" and all(len(p) <= 3 for p in pieces)


def test_bad_vocabulary_files(tmp_path):
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("not-base64!! 0\n")
    with pytest.raises(CwmError, match=r"bad\.tiktoken:1: expected 'BASE64TOKEN RANK'"):
        Tokenizer(bad)
    gap = tmp_path / "gap.tiktoken"
    gap.write_text(f"{base64.b64encode(b'a').decode()} 0\n{base64.b64encode(b'b').decode()} 5\n")
    with pytest.raises(CwmError, match="ranks must be unique and run from 0 to 1"):
        Tokenizer(gap)
    with pytest.raises(CwmError, match="cannot read vocabulary"):
        Tokenizer(tmp_path / "missing.tiktoken")
    with pytest.raises(CwmError, match="not a special token"):
        TOK.token_id("<|nope|>")


def test_training_is_deterministic_and_encodes_its_corpus(tmp_path):
    texts = list(read_texts(python_files([stdlib_dir() / "json"])))
    first = train_bpe(count_chunks(texts), 600, progress=False)
    second = train_bpe(count_chunks(texts), 600, progress=False)
    assert first == second and len(first) == len(set(first)) == 600
    tok = Tokenizer(rank_file_from(tmp_path, first))
    assert tok.decode(tok.encode(texts[0])) == texts[0]
    assert len(tok.encode(texts[0])) < len(texts[0].encode()) / 2  # it actually compresses


def rank_file_from(tmp_path, tokens):
    path = tmp_path / "small.tiktoken"
    write_ranks(path, tokens)
    return path


def test_embedded_vocabulary_is_reproducible_from_the_command(tmp_path):
    """`cwm tokenizer train` with no options rebuilds the shipped file byte for byte."""
    meta = json.loads(DEFAULT_VOCAB.with_suffix(".json").read_text())
    if meta["python"] != sys.version.split()[0]:
        pytest.skip(f"the embedded vocabulary was trained on Python {meta['python']}'s stdlib")
    assert hashlib.sha256(DEFAULT_VOCAB.read_bytes()).hexdigest() == meta["sha256"]
    from click.testing import CliRunner

    from cwm.core.cli import build_cli

    out = tmp_path / "v.tiktoken"
    result = CliRunner().invoke(build_cli(), ["tokenizer", "train", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == DEFAULT_VOCAB.read_bytes()


def test_named_offsets_match_the_cwm_release():
    assert specials.NAMED_OFFSETS["<|frame_sep|>"] == 100 and specials.NUM_RESERVED == 256
