"""Sources of training examples: cwm-data dataset directories and record files.

A source is random access: ``len(source)``, ``source.lengths`` (token count of
each example, without reading it) and ``source.example(i)`` -> (ids, mask).

- `DatasetSource`: the directory `cwm data build` writes (its public layout:
  ``manifest.json``, ``SPLIT/tokens-NNNNN.bin`` uint32 ids and ``.idx`` rows of
  uint64 (offset, length, prompt_length)); token shards are memory-mapped.
- `RecordSource`: ``.jsonl``/``.msgpack`` records (documents, traces, chats,
  trajectories; a file or a directory of shards), tokenized once when opened.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from cwm.core.errors import CwmError
from cwm.core.io import read_records
from cwm.core.tokenizer import Tokenizer
from cwm.train.config import DataSource
from cwm.train.data.examples import Example, example

LAYOUT_VERSION = 1  # of the cwm-data dataset layout this reader understands


class DatasetSource:
    def __init__(self, root: Path, split: str, mask: str, name: str = ""):
        self.name = name or f"{root}:{split}"
        manifest = _manifest(root)
        splits = manifest.get("splits", {})
        if split not in splits:
            raise CwmError(f"{root}: no split {split!r}; splits: {', '.join(splits) or 'none'}")
        shards = splits[split].get("tokens") or []
        if splits[split].get("count", 0) and not shards:
            raise CwmError(
                f"{root}: split {split!r} has no token shards; rebuild it with tokenize=true"
            )
        n_vocab = manifest.get("tokenizer", {}).get("n_vocab")
        if shards and n_vocab != (embedded := Tokenizer().n_vocab):
            raise CwmError(
                f"{root}: tokenized with a {n_vocab}-id vocabulary, not the embedded "
                f"{embedded}; rebuild the dataset with this cwm-core"
            )
        if mask not in ("auto", "after_prompt", "all"):
            raise CwmError(
                f"{root}: mask {mask!r} does not apply to traces; use auto, after_prompt or all"
            )
        self.after_prompt = mask != "all"
        self._ids: list[NDArray[np.uint32]] = []
        rows = []
        for shard_no, stem in enumerate(shards):
            base = root / split / stem
            try:
                self._ids.append(np.memmap(base.with_suffix(".bin"), dtype="<u4", mode="r"))
                index = np.fromfile(base.with_suffix(".idx"), dtype="<u8").reshape(-1, 3)
            except (OSError, ValueError) as exc:
                raise CwmError(
                    f"{base}: cannot read the token shard ({exc}); rebuild the dataset"
                ) from None
            rows.append(np.column_stack([np.full(len(index), shard_no, dtype=np.uint64), index]))
        # (shard, offset, length, prompt_length) per example
        self._index = np.concatenate(rows) if rows else np.zeros((0, 4), dtype=np.uint64)
        self.lengths: NDArray[np.int64] = self._index[:, 2].astype(np.int64)

    def __len__(self) -> int:
        return len(self._index)

    def example(self, i: int) -> Example:
        shard, offset, length, prompt = (int(v) for v in self._index[i])
        ids = np.asarray(self._ids[shard][offset : offset + length], dtype=np.int64)
        mask = np.ones(length, dtype=np.bool_)
        if self.after_prompt:
            mask[:prompt] = False
        return ids, mask


class RecordSource:
    def __init__(self, path: Path, mask: str, name: str = "", *, progress: bool = True):
        self.name = name or str(path)
        tok = Tokenizer()
        self._examples: list[Example] = []
        records = read_records(path)
        for record in tqdm(
            records, desc=f"tokenizing {path.name}", unit=" rec", disable=not progress, leave=False
        ):
            self._examples.append(example(tok, record, mask))
        self.lengths = np.asarray([len(ids) for ids, _ in self._examples], dtype=np.int64)

    def __len__(self) -> int:
        return len(self._examples)

    def example(self, i: int) -> Example:
        return self._examples[i]


Source = DatasetSource | RecordSource


def open_source(spec: DataSource, *, progress: bool = True) -> Source:
    path = Path(spec.path)
    if not path.exists():
        raise CwmError(
            f"data source {path}: no such file or directory; build it with `cwm data build --out {path}` or fix data.sources"
        )
    if (path / "manifest.json").is_file():
        source: Source = DatasetSource(path, spec.split, spec.mask, spec.name)
    else:
        source = RecordSource(path, spec.mask, spec.name, progress=progress)
    if len(source) == 0:
        raise CwmError(f"data source {path}: no examples")
    return source


def _manifest(root: Path) -> dict:
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CwmError(
            f"{root}/manifest.json: cannot read it ({exc}); rebuild the dataset"
        ) from None
    version = manifest.get("layout_version", 0)
    if version > LAYOUT_VERSION:
        raise CwmError(
            f"{root}: dataset layout {version} is newer than this cwm-train reads ({LAYOUT_VERSION}); upgrade cwm-train"
        )
    return manifest
