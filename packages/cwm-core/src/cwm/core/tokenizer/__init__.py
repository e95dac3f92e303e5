"""The CWM tokenizer, its special tokens, and the BPE trainer behind the embedded vocabulary."""

from cwm.core.tokenizer import specials
from cwm.core.tokenizer.tokenizer import DEFAULT_VOCAB, LLAMA3_PATTERN, Tokenizer, load_ranks

__all__ = ["DEFAULT_VOCAB", "LLAMA3_PATTERN", "Tokenizer", "load_ranks", "specials"]
