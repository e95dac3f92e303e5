"""Token shards: a split's traces as token ids, written and memory-mapped with the stdlib.

``tokens-NNNNN.bin`` holds uint32 little-endian ids, one sequence after another;
``tokens-NNNNN.idx`` one row of uint64 little-endian (offset, length, prompt_length)
per sequence. Readers get ids as a zero-copy ``memoryview`` of the mapped file
(``numpy.frombuffer(view, dtype="<u4")`` wraps it without copying).
"""

from __future__ import annotations

import mmap
import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from pathlib import Path

from cwm.core.dataset.manifest import Manifest
from cwm.core.errors import CwmError
from cwm.core.io import atomic_open

ROW = 3  # uint64s per index row: offset, length, prompt_length


def token_stem(index: int) -> str:
    """The stem of shard ``index``: ``tokens-00003`` (``.bin`` and ``.idx``)."""
    return f"tokens-{index:05d}"


def write_token_shard(
    directory: Path | str, index: int, sequences: Iterable[tuple[Sequence[int], int]]
) -> list[int]:
    """Write shard ``index`` of (ids, prompt_length) pairs; returns each sequence's length."""
    ids, rows, lengths = array("I"), array("Q"), []
    if ids.itemsize != 4 or rows.itemsize != 8:
        raise CwmError("this platform's C integers are not 32/64-bit; token shards need them")
    for seq, prompt in sequences:
        rows.extend((len(ids), len(seq), prompt))
        ids.extend(seq)
        lengths.append(len(seq))
    stem = Path(directory) / token_stem(index)
    for suffix, data in ((".bin", ids), (".idx", rows)):
        with atomic_open(stem.with_suffix(suffix)) as f:
            f.write(_little_endian(data).tobytes())
    return lengths


class TokenSplit:
    """One split's token shards, memory-mapped: ``len``, ``lengths``, ``ids(i)``, ``prompt_length(i)``."""

    def __init__(self, root: Path | str, manifest: Manifest, split: str):
        root = Path(root)
        if split not in manifest.splits:
            names = ", ".join(manifest.splits) or "none"
            raise CwmError(f"{root}: no split {split!r}; splits: {names}")
        files = manifest.splits[split]
        if files.count and not files.tokens:
            raise CwmError(
                f"{root}: split {split!r} has no token shards; rebuild it with "
                f"cwm data build --out {root} --force --set tokenize=true"
            )
        self._ids: list[memoryview] = []
        self._rows = array("Q")
        self._starts: list[int] = []  # first sequence number of each shard
        for stem in files.tokens:
            base = root / split / stem
            self._starts.append(len(self._rows) // ROW)
            try:
                ids = _map_ids(base.with_suffix(".bin"))
                rows = _little_endian(array("Q", base.with_suffix(".idx").read_bytes()))
                _check(ids, rows)
            except (OSError, ValueError, TypeError) as exc:
                raise CwmError(
                    f"{base}: cannot read the token shard ({exc}); rebuild the dataset with "
                    f"cwm data build --out {root} --force"
                ) from None
            self._ids.append(ids)
            self._rows.extend(rows)
        self.lengths: Sequence[int] = self._rows[1::ROW]

    def __len__(self) -> int:
        return len(self._rows) // ROW

    def ids(self, i: int) -> Sequence[int]:
        """The ids of sequence ``i`` (a view of the mapped shard on little-endian machines)."""
        shard = bisect_right(self._starts, i) - 1
        offset, length = self._rows[ROW * i], self._rows[ROW * i + 1]
        view = self._ids[shard][offset : offset + length]
        return _little_endian(array("I", view)) if sys.byteorder == "big" else view

    def prompt_length(self, i: int) -> int:
        return self._rows[ROW * i + 2]


def _check(ids: memoryview, rows: array) -> None:
    if len(rows) % ROW:
        raise ValueError(f"the index holds {len(rows)} numbers, not rows of {ROW}")
    if rows and rows[-ROW] + rows[-ROW + 1] > len(ids):
        raise ValueError(f"the index points past the {len(ids)} ids")


def _map_ids(path: Path) -> memoryview:
    with path.open("rb") as f:
        if path.stat().st_size == 0:
            return memoryview(b"").cast("I")
        # the mapping stays valid after the file is closed
        return memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)).cast("I")


def _little_endian(data: array) -> array:
    if sys.byteorder == "big":
        data = array(data.typecode, data)
        data.byteswap()
    return data
