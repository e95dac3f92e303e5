"""``manifest.json`` of a trace dataset: a typed struct, its version, read and write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from cwm.core.errors import CwmError
from cwm.core.io import atomic_open

#: bumped when a file of the layout changes meaning; readers refuse other versions.
LAYOUT_VERSION = 1
MANIFEST = "manifest.json"


class SplitFiles(msgspec.Struct, frozen=True):
    """One split's files, relative to ``DIR/SPLIT/``."""

    traces: list[str] = []  # Trace record shards, e.g. "traces-00000.jsonl"
    tokens: list[str] = []  # token shard stems, e.g. "tokens-00000" (.bin and .idx); empty
    # when built without tokenize
    count: int = 0  # traces in the split


class TokenizerInfo(msgspec.Struct, frozen=True):
    """The tokenizer the token shards were written with."""

    n_vocab: int
    vocab: str = ""
    dtype: str = "uint32 little-endian"
    index: str = "uint64 little-endian rows of (offset, length, prompt_length)"


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    layout_version: int = LAYOUT_VERSION
    splits: dict[str, SplitFiles] = {}
    tokenizer: TokenizerInfo | None = None
    config: dict[str, Any] = {}  # the build config, for the record


def write_manifest(root: Path | str, manifest: Manifest) -> None:
    with atomic_open(Path(root) / MANIFEST, "wb") as f:
        f.write(msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n")


def read_manifest(root: Path | str) -> Manifest:
    """The manifest of the dataset at ``root``; a one-line CwmError when it cannot be used."""
    root = Path(root)
    path = root / MANIFEST
    rebuild = f"rebuild it: cwm data build --out {root} --force (with the corpora it came from)"
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CwmError(
            f"{root}: not a trace dataset (no {MANIFEST}); build one with cwm data build --out {root}"
        ) from None
    except (OSError, ValueError) as exc:
        raise CwmError(f"{path}: cannot read it ({exc}); {rebuild}") from None
    if not isinstance(raw, dict):
        raise CwmError(f"{path}: not a dataset manifest; {rebuild}")
    version = raw.get("layout_version", 0)
    if not isinstance(version, int) or version < LAYOUT_VERSION:
        raise CwmError(
            f"{root}: dataset layout {version} is older than the one this cwm reads "
            f"({LAYOUT_VERSION}); {rebuild}"
        )
    if version > LAYOUT_VERSION:
        raise CwmError(
            f"{root}: dataset layout {version} is newer than the one this cwm reads "
            f"({LAYOUT_VERSION}); upgrade cwm-core"
        )
    try:
        return msgspec.convert(raw, Manifest)
    except msgspec.ValidationError as exc:
        raise CwmError(f"{path}: bad manifest ({exc}); {rebuild}") from None
