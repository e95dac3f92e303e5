"""The embedded vocabularies by name, and checkpoints that carry the one they trained with."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from cwm.core.errors import CwmError
from cwm.core.model import FLAVORS
from cwm.core.tokenizer import VOCABS, Tokenizer, load_ranks, vocab_path
from cwm.core.tokenizer.train import count_chunks, python_files, read_texts, stdlib_dir, train_bpe


def test_every_embedded_vocabulary_loads_by_name_and_matches_its_provenance():
    for name in VOCABS:
        tok = Tokenizer(name)
        meta = json.loads(vocab_path(name).with_suffix(".json").read_text())
        assert tok.vocab == name and tok.n_ranks == meta["n_ranks"]
        assert hashlib.sha256(tok.path.read_bytes()).hexdigest() == meta["sha256"]
        assert tok.decode(tok.encode("def f(x):\n    return x")) == "def f(x):\n    return x"


def test_the_4k_vocabulary_is_the_16k_one_cut_at_4096_ranks():
    small, large = load_ranks(vocab_path("cwm-code-4k")), load_ranks(vocab_path("cwm-code-16k"))
    assert small == {token: rank for token, rank in large.items() if rank < 4096}


def test_bpe_training_to_fewer_ranks_gives_a_prefix_of_more():
    # why a cut is what `cwm tokenizer train --ranks 4096` writes: merges are greedy
    chunks = count_chunks(read_texts(python_files([stdlib_dir() / "json"])))
    assert train_bpe(chunks, 500, progress=False) == train_bpe(chunks, 700, progress=False)[:500]


def test_an_unknown_vocabulary_name_lists_the_embedded_ones():
    with pytest.raises(CwmError, match=r"cwm-code-8k: cannot read vocabulary.*cwm-code-4k"):
        Tokenizer("cwm-code-8k")


def test_a_model_config_names_its_tokenizer():
    assert FLAVORS["tiny"].vocab == "cwm-code-16k"
    demo = Tokenizer.for_model(FLAVORS["demo"])
    assert demo.vocab == "cwm-code-4k" and demo.n_vocab == FLAVORS["demo"].vocab_size == 4352
    assert Tokenizer.for_model(FLAVORS["demo"]) is demo  # loaded once


SMALL_4K = msgspec.structs.replace(FLAVORS["debug"], vocab="cwm-code-4k", vocab_size=4352)


@pytest.mark.parametrize("fmt", ["native", "hf", "meta"])
def test_every_checkpoint_format_carries_the_vocabulary(tmp_path: Path, fmt: str):
    pytest.importorskip("torch")
    from cwm.core.checkpoint import convert, load_checkpoint, save_checkpoint
    from cwm.core.model import build_model

    save_checkpoint(build_model(SMALL_4K, seed=0), tmp_path / "native")
    path = tmp_path / "native"
    if fmt != "native":
        convert(path, tmp_path / fmt, to=fmt)
        path = tmp_path / fmt
    assert load_checkpoint(path).config.vocab == "cwm-code-4k"


def test_generate_encodes_with_the_checkpoints_vocabulary(tmp_path: Path):
    pytest.importorskip("torch")
    from cwm.core.checkpoint import save_checkpoint
    from cwm.core.cli import build_cli
    from cwm.core.model import build_model

    save_checkpoint(build_model(SMALL_4K, seed=0), tmp_path / "ckpt")
    out = CliRunner().invoke(
        build_cli(), ["model", "generate", "--max-new-tokens", "3", str(tmp_path / "ckpt"), "x ="]
    )
    assert out.exit_code == 0, out.output  # a 16k tokenizer would refuse this 4,352-id model
    assert out.output.startswith("x =")
