"""Tokenizer encode throughput: our wrapper against tiktoken itself, same ranks, same run.

Goal: the wrapper adds less than 10% (overhead_ratio < 1.10).
"""

from __future__ import annotations

import sys
from pathlib import Path

import tiktoken

sys.path.insert(0, str(Path(__file__).parent))
from common import best_of, options, write_result

from cwm.core.tokenizer import LLAMA3_PATTERN, Tokenizer, load_ranks
from cwm.core.tokenizer.train import python_files, read_texts, stdlib_dir

CORPUS = ["asyncio", "email"]  # stdlib packages


def main() -> None:
    args = options(__doc__, "the stdlib json package")
    corpus = ["json"] if args.quick else CORPUS
    text = "".join(read_texts(python_files([stdlib_dir() / name for name in corpus])))
    ours = Tokenizer()
    plain = tiktoken.Encoding(
        name="plain",
        pat_str=LLAMA3_PATTERN,
        mergeable_ranks=load_ranks(ours.path),
        special_tokens=ours.specials,
    )
    assert ours.encode(text) == plain.encode_ordinary(text)
    n_tokens = len(ours.encode(text))
    t_ours = best_of(lambda: ours.encode(text))
    t_plain = best_of(lambda: plain.encode_ordinary(text))
    write_result(
        "tokenizer",
        {
            "corpus_chars": len(text),
            "tokens": n_tokens,
            "ours_tokens_per_s": n_tokens / t_ours,
            "tiktoken_tokens_per_s": n_tokens / t_plain,
            "overhead_ratio": t_ours / t_plain,
            "goal": "overhead_ratio < 1.10",
            "passed": t_ours / t_plain < 1.10,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
