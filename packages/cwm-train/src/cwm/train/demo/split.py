"""The demo's two held-out sets.

``cwm data build`` holds out whole functions (their traces never reach
training): scoring them asks the model to trace code it has never seen. The
demo also holds out calls: a tenth of the training split's traces, chosen by a
hash of the trace id, are kept from training, so their functions were seen
through other calls and the inputs (hence the values in the frames) are new.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from cwm.core.io import read_records, write_records
from cwm.core.schemas import Trace


def split_calls(
    train_dir: Path, out: Path, *, fraction: float = 0.1, seed: int = 0
) -> tuple[Path, Path]:
    """Write ``out/train/traces.jsonl`` and ``out/heldout/traces.jsonl`` from the traces in
    ``train_dir`` (a directory each, so either can be given where a directory of traces is
    read, as `cwm rl` does); their paths."""
    keep: list[Trace] = []
    held: list[Trace] = []
    for trace in read_records(train_dir):
        bucket = zlib.crc32(f"{seed}:{trace.id}".encode()) % 1000
        (held if bucket < fraction * 1000 else keep).append(trace)
    train, heldout = out / "train" / "traces.jsonl", out / "heldout" / "traces.jsonl"
    write_records(train, keep)
    write_records(heldout, held)
    return train, heldout
