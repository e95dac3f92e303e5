"""Settings of `cwm data build`; the defaults build the stdlib dataset on a laptop."""

from __future__ import annotations

from typing import Literal

import msgspec

from cwm.core.config import AtLeast0, AtLeast1, Config, ConfigError, Fraction
from cwm.core.tokenizer.tokenizer import DEFAULT_VOCAB_NAME, VOCABS, vocab_path
from cwm.data.trace.config import TraceConfig

#: exceptions that say the input was of the wrong kind, not how the code behaves
UNINFORMATIVE = frozenset(
    [
        "TypeError",
        "AttributeError",
        "NameError",
        "NotImplementedError",
        "RecursionError",
        "ImportError",
        "ModuleNotFoundError",
        "UnboundLocalError",
        "AssertionError",
        "PermissionError",
        "OSError",
        "FileNotFoundError",
        "SystemExit",
        "KeyboardInterrupt",
        "MemoryError",
    ]
)


def _build_trace_config() -> TraceConfig:
    # harvested functions are small and pure: a trace that needs more than this is
    # not "bounded time" and is dropped
    return TraceConfig(
        max_steps=2000,
        max_seconds=0.5,
        max_trace_bytes=500_000,
        cpu_seconds=1.0,
        memory_mb=512,
        screen=sorted(UNINFORMATIVE),  # their traces are dropped: no need to trace them
        screen_addresses=True,  # and so are those whose result shows an address
    )


class BuildConfig(Config, frozen=True, kw_only=True):
    #: corpus specs, ``name`` or ``name:argument``: ``stdlib``, ``package:networkx``,
    #: ``directory:src/``, ``jsonl:tasks.jsonl``, ``pytest:path/to/repo``
    corpora: list[str] = msgspec.field(default_factory=lambda: ["stdlib"])
    out: str = "data/traces"
    workers: AtLeast0 = 0  # 0: one per CPU core
    seed: int = 0

    # inputs
    candidates_per_function: AtLeast1 = 8  # first round: calls tried per function
    refine: bool = True  # second round: variants of the calls that worked
    max_functions: AtLeast0 = 0  # 0: every function found
    max_source_lines: AtLeast1 = 400  # longest dependency slice kept as a task source

    # selection
    per_function: AtLeast1 = 16  # traces kept per function at most
    min_frames: AtLeast0 = 3
    max_raised_fraction: Fraction = (
        0.25  # of a function's traces, at most this many end in an exception
    )
    near_duplicate: Fraction = (
        0.9  # Jaccard similarity (of frames) above which a trace is a near-duplicate
    )

    # output
    heldout_fraction: Fraction = 0.05  # of functions (all their traces) kept out of train
    shard_size: AtLeast1 = 5000
    format: Literal["jsonl", "msgpack"] = "jsonl"
    tokenize: bool = True
    #: the vocabulary of the token shards: an embedded name (cwm-code-16k, cwm-code-4k) or
    #: a tiktoken file; a model trains on them only with the same ``model.vocab``
    vocab: str = DEFAULT_VOCAB_NAME
    plot: bool = True  # stats.png, when matplotlib is installed

    trace: TraceConfig = msgspec.field(default_factory=_build_trace_config)

    def __post_init__(self) -> None:
        if not vocab_path(self.vocab).is_file():
            raise ConfigError(
                f"config key vocab: {self.vocab!r} is not an embedded vocabulary "
                f"({', '.join(VOCABS)}) or a tiktoken file"
            )
