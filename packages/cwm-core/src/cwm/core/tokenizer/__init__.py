"""The CWM tokenizer, its special tokens, and the BPE trainer behind the embedded vocabularies."""

from cwm.core.tokenizer import specials
from cwm.core.tokenizer.tokenizer import (
    DEFAULT_VOCAB,
    DEFAULT_VOCAB_NAME,
    LLAMA3_PATTERN,
    VOCABS,
    Tokenizer,
    load_ranks,
    vocab_path,
)

__all__ = [
    "DEFAULT_VOCAB",
    "DEFAULT_VOCAB_NAME",
    "LLAMA3_PATTERN",
    "VOCABS",
    "Tokenizer",
    "load_ranks",
    "specials",
    "vocab_path",
]
