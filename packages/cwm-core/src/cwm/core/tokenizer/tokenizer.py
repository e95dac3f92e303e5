"""The CWM tokenizer: byte-level BPE on tiktoken, plus the 256-slot special block.

tok = Tokenizer()                 # the embedded code vocabulary (cwm-code-16k)
tok = Tokenizer("cwm-code-4k")    # another embedded one, by name; or a tiktoken file's path
tok = Tokenizer.for_model(model.config)  # the vocabulary a model was trained with
ids = tok.encode("def f(x):")     # ordinary text: special-token strings stay text
ids = tok.encode_with_specials("<|eot_id|>")  # special strings map to their ids
tok.decode(ids)
"""

from __future__ import annotations

import base64
import binascii
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import tiktoken

from cwm.core.errors import CwmError
from cwm.core.tokenizer import specials as sp

#: Llama-3's pre-tokenization split (CWM uses it unchanged)
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
#: the embedded vocabularies, by name: byte-level BPE over the standard library, each
#: rebuilt by ``cwm tokenizer train --ranks N``; BPE merges greedily, so the 4k one is
#: the 16k one's first 4,096 ranks
VOCABS = ("cwm-code-16k", "cwm-code-4k")
DEFAULT_VOCAB_NAME = "cwm-code-16k"
DEFAULT_VOCAB = Path(__file__).with_name(f"{DEFAULT_VOCAB_NAME}.tiktoken")


def vocab_path(vocab: str | Path) -> Path:
    """The file of an embedded vocabulary's name, or ``vocab`` as a path."""
    if str(vocab) in VOCABS:
        return DEFAULT_VOCAB.with_name(f"{vocab}.tiktoken")
    return Path(vocab)


def load_ranks(path: Path | str) -> dict[bytes, int]:
    """Read a tiktoken BPE file (``base64-token rank`` a line); ranks must be 0..n-1."""
    path = Path(path)
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise CwmError(
            f"{path}: cannot read vocabulary: {exc.strerror} "
            f"(embedded vocabularies: {', '.join(VOCABS)})"
        ) from None
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise CwmError(f"{path}:{lineno}: expected 'BASE64TOKEN RANK'") from None
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise CwmError(f"{path}: ranks must be unique and run from 0 to {len(ranks) - 1}")
    return ranks


class Tokenizer:
    """Encodes and decodes text; special tokens come from `cwm.core.tokenizer.specials`."""

    def __init__(self, path: Path | str | None = None):
        #: what names the vocabulary in configs and manifests: an embedded name or a path
        self.vocab = str(path) if path is not None else DEFAULT_VOCAB_NAME
        self.path = vocab_path(self.vocab)
        ranks = load_ranks(self.path)
        self.n_ranks = len(ranks)
        self.specials = sp.special_tokens(self.n_ranks)
        self.encoding = tiktoken.Encoding(
            name=self.path.stem,
            pat_str=LLAMA3_PATTERN,
            mergeable_ranks=ranks,
            special_tokens=self.specials,
        )
        self.bos_id = self.specials[sp.BEGIN_OF_TEXT]
        self.eos_id = self.specials[sp.END_OF_TEXT]
        self.pad_id = self.specials[sp.PAD]
        self.eom_id = self.specials[sp.EOM]
        self.eot_id = self.specials[sp.EOT]
        self.stop_ids = frozenset(self.specials[s] for s in sp.STOP_TOKENS)

    @staticmethod
    def for_model(config: Any) -> Tokenizer:
        """The tokenizer of a `ModelConfig`'s ``vocab`` (loaded once, shared)."""
        return _shared(config.vocab)

    @property
    def n_vocab(self) -> int:
        """Ranks plus the 256 special slots: the model's embedding size."""
        return self.n_ranks + sp.NUM_RESERVED

    @cached_property
    def names(self) -> dict[int, str]:
        return {i: s for s, i in self.specials.items()}

    def token_id(self, special: str) -> int:
        """The id of a special token string such as ``"<|frame_sep|>"``."""
        try:
            return self.specials[special]
        except KeyError:
            raise CwmError(f"{special!r} is not a special token") from None

    def is_special(self, token_id: int) -> bool:
        return self.n_ranks <= token_id < self.n_vocab

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        """Ordinary text to ids; special-token strings in ``text`` are encoded as text."""
        ids = self.encoding.encode_ordinary(text)
        if bos:
            ids.insert(0, self.bos_id)
        if eos:
            ids.append(self.eos_id)
        return ids

    def encode_batch(self, texts: list[str], *, num_threads: int = 8) -> list[list[int]]:
        return self.encoding.encode_ordinary_batch(texts, num_threads=num_threads)

    def encode_with_specials(self, text: str) -> list[int]:
        """Text in which special-token strings are mapped to their ids."""
        return self.encoding.encode(text, allowed_special="all")

    def decode(self, ids: list[int]) -> str:
        """Ids to text; special ids become their strings, broken UTF-8 becomes U+FFFD."""
        return self.encoding.decode(ids)

    def decode_bytes(self, ids: list[int]) -> bytes:
        return self.encoding.decode_bytes(ids)

    def __repr__(self) -> str:
        return f"Tokenizer({str(self.path)!r}, n_vocab={self.n_vocab})"


@cache
def _shared(vocab: str) -> Tokenizer:
    return Tokenizer(vocab)
