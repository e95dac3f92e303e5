"""The trace dataset layout: what ``cwm data build`` writes and ``cwm train`` reads.

Layout of a dataset directory (a public contract, version `LAYOUT_VERSION`)::

    manifest.json                   `Manifest`: layout_version, each split's files, tokenizer, config
    stats.json, stats.png           statistics (written by cwm-data, read by people)
    SPLIT/traces-00000.jsonl ...    Trace records (cwm.core.io.read_records)
    SPLIT/tokens-00000.bin          the same traces as token ids: uint32 little-endian, one
                                    trace after another in the shard's order
    SPLIT/tokens-00000.idx          per trace, three uint64 little-endian: offset (in ids),
                                    length, prompt length (the part before the first frame)

SPLIT is ``train`` or ``heldout``. Writing and reading need only the standard
library: `write_token_shard` writes one token shard, `TokenSplit` memory-maps a
split's shards. With numpy, a shard reads as::

    ids = np.fromfile("tokens-00000.bin", dtype="<u4")
    index = np.fromfile("tokens-00000.idx", dtype="<u8").reshape(-1, 3)
"""

from cwm.core.dataset.manifest import (
    LAYOUT_VERSION,
    MANIFEST,
    Manifest,
    SplitFiles,
    TokenizerInfo,
    read_manifest,
    write_manifest,
)
from cwm.core.dataset.shards import TokenSplit, token_stem, write_token_shard

__all__ = [
    "LAYOUT_VERSION",
    "MANIFEST",
    "Manifest",
    "SplitFiles",
    "TokenSplit",
    "TokenizerInfo",
    "read_manifest",
    "token_stem",
    "write_manifest",
    "write_token_shard",
]
