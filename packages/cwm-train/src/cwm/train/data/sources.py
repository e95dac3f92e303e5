"""Sources of training examples: cwm-data dataset directories and record files.

A source is random access: ``len(source)``, ``source.lengths`` (token count of
each example, without reading it) and ``source.example(i)`` -> (ids, mask).

- `DatasetSource`: the directory `cwm data build` writes, read through
  `cwm.core.dataset` (the layout's one definition); token shards are memory-mapped.
- `RecordSource`: ``.jsonl``/``.msgpack`` records (documents, traces, chats,
  trajectories; a file or a directory of shards), tokenized once when opened.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from cwm.core.dataset import MANIFEST, TokenSplit, read_manifest
from cwm.core.errors import CwmError
from cwm.core.io import read_records
from cwm.core.tokenizer import Tokenizer
from cwm.train.config import DataSource
from cwm.train.data.examples import Example, example


class DatasetSource:
    def __init__(self, root: Path, split: str, mask: str, name: str = "", *, tok: Tokenizer):
        self.name = name or f"{root}:{split}"
        if mask not in ("auto", "after_prompt", "all"):
            raise CwmError(
                f"{root}: mask {mask!r} does not apply to traces; use auto, after_prompt or all"
            )
        self.after_prompt = mask != "all"
        manifest = read_manifest(root)
        self._tokens = TokenSplit(root, manifest, split)
        built = manifest.tokenizer
        if len(self._tokens) and (
            built is None
            or built.n_vocab != tok.n_vocab
            or (built.vocab and _name(built.vocab) != _name(tok.vocab))
        ):
            was = f"{built.vocab!r} ({built.n_vocab} ids)" if built else "an unknown vocabulary"
            raise CwmError(
                f"{root}: tokenized with {was}, not the model's {tok.vocab!r} "
                f"({tok.n_vocab} ids); rebuild it: cwm data build --out {root} --force "
                f"--set vocab={tok.vocab}"
            )
        self.lengths: NDArray[np.int64] = np.asarray(self._tokens.lengths, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._tokens)

    def example(self, i: int) -> Example:
        ids = np.frombuffer(self._tokens.ids(i), dtype=np.uint32).astype(np.int64)
        mask = np.ones(len(ids), dtype=np.bool_)
        if self.after_prompt:
            mask[: self._tokens.prompt_length(i)] = False
        return ids, mask


class RecordSource:
    def __init__(
        self, path: Path, mask: str, name: str = "", *, tok: Tokenizer, progress: bool = True
    ):
        self.name = name or str(path)
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


def open_source(
    spec: DataSource, *, tokenizer: Tokenizer | None = None, progress: bool = True
) -> Source:
    """A source encoded with ``tokenizer`` (the model's; default: the embedded one):
    records are tokenized with it, token shards must have been written with it."""
    tok = tokenizer or Tokenizer()
    path = Path(spec.path)
    if not path.exists():
        raise CwmError(
            f"data source {path}: no such file or directory; build it with `cwm data build --out {path}` or fix data.sources"
        )
    if (path / MANIFEST).is_file():
        source: Source = DatasetSource(path, spec.split, spec.mask, spec.name, tok=tok)
    else:
        source = RecordSource(path, spec.mask, spec.name, tok=tok, progress=progress)
    if len(source) == 0:
        raise CwmError(f"data source {path}: no examples")
    return source


def _name(vocab: str) -> str:
    """A vocabulary's name: older manifests record the embedded file's name."""
    return Path(vocab).name.removesuffix(".tiktoken")
