"""Token shards: the CWM trace format as token ids, beside each shard of Trace records.

For ``traces-00003.jsonl`` there is ``tokens-00003.bin``, every trace's ids as
little-endian uint32, one trace after another in the shard's order, and
``tokens-00003.idx``, one row of three little-endian uint64 per trace:
offset (in ids), length, and prompt length (the source part, before the first
frame). With numpy::

    ids = np.fromfile("tokens-00003.bin", dtype="<u4")
    index = np.fromfile("tokens-00003.idx", dtype="<u8").reshape(-1, 3)
    offset, length, prompt = index[i]
    trace_ids = ids[offset : offset + length]
"""

from __future__ import annotations

import sys
from array import array
from pathlib import Path

from cwm.core.formats.trace import trace_segments
from cwm.core.io import atomic_open
from cwm.core.schemas import Trace
from cwm.core.tokenizer import Tokenizer


class TokenShardWriter:
    def __init__(self, tokenizer: Tokenizer):
        self.tok = tokenizer
        self.lengths: list[int] = []

    def write(self, directory: Path, index: int, traces: list[Trace]) -> None:
        ids, rows = array("I"), array("Q")
        for trace in traces:
            seg = trace_segments(self.tok, trace)
            trace_ids = seg.ids()
            rows.extend((len(ids), len(trace_ids), len(seg.prompt)))
            ids.extend(trace_ids)
            self.lengths.append(len(trace_ids))
        if ids.itemsize != 4 or rows.itemsize != 8:
            raise RuntimeError("this platform's array sizes differ from uint32/uint64")
        for name, data in ((f"tokens-{index:05d}.bin", ids), (f"tokens-{index:05d}.idx", rows)):
            with atomic_open(directory / name) as f:
                f.write(_little_endian(data).tobytes())


def _little_endian(data: array) -> array:
    if sys.byteorder == "big":
        data = array(data.typecode, data)
        data.byteswap()
    return data
