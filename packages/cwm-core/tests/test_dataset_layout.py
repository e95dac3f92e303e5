"""The trace dataset layout: manifest versions, token shards as documented, one-line errors."""

from __future__ import annotations

import json
from array import array

import pytest

from cwm.core.dataset import (
    LAYOUT_VERSION,
    Manifest,
    SplitFiles,
    TokenizerInfo,
    TokenSplit,
    read_manifest,
    token_stem,
    write_manifest,
    write_token_shard,
)
from cwm.core.errors import CwmError

SEQUENCES = [([5, 6, 7, 8], 2), ([70000, 1], 1), ([], 0), ([9] * 10, 3)]


def manifest_for(*shards: list[tuple[list[int], int]]) -> Manifest:
    files = SplitFiles(
        traces=[f"traces-{i:05d}.jsonl" for i in range(len(shards))],
        tokens=[token_stem(i) for i in range(len(shards))],
        count=sum(len(s) for s in shards),
    )
    return Manifest(splits={"train": files}, tokenizer=TokenizerInfo(n_vocab=70001))


def write_split(root, *shards):
    (root / "train").mkdir(parents=True)
    for i, shard in enumerate(shards):
        write_token_shard(root / "train", i, shard)
    write_manifest(root, manifest_for(*shards))


def test_shards_are_the_documented_bytes(tmp_path):
    lengths = write_token_shard(tmp_path, 3, SEQUENCES)
    assert lengths == [4, 2, 0, 10]
    ids = (tmp_path / "tokens-00003.bin").read_bytes()
    index = (tmp_path / "tokens-00003.idx").read_bytes()
    # uint32 and uint64 little-endian, whatever the machine
    assert ids[:8] == (5).to_bytes(4, "little") + (6).to_bytes(4, "little")
    rows = [int.from_bytes(index[i : i + 8], "little") for i in range(0, len(index), 8)]
    assert rows == [0, 4, 2, 4, 2, 1, 6, 0, 0, 6, 10, 3]


def test_a_split_reads_back_across_shards(tmp_path):
    write_split(tmp_path, SEQUENCES[:2], SEQUENCES[2:])
    split = TokenSplit(tmp_path, read_manifest(tmp_path), "train")
    assert len(split) == 4 and list(split.lengths) == [4, 2, 0, 10]
    for i, (ids, prompt) in enumerate(SEQUENCES):
        assert list(split.ids(i)) == ids and split.prompt_length(i) == prompt


def test_the_manifest_round_trips_and_keeps_its_version(tmp_path):
    write_split(tmp_path, SEQUENCES)
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["layout_version"] == LAYOUT_VERSION
    assert raw["splits"]["train"]["tokens"] == ["tokens-00000"]
    assert read_manifest(tmp_path) == manifest_for(SEQUENCES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("layout_version"), r"layout 0 is older .* cwm data build --out"),
        (lambda m: m.update(layout_version=99), r"layout 99 is newer .* upgrade cwm-core"),
        (lambda m: m.update(splits=[1]), r"bad manifest .* cwm data build"),
    ],
)
def test_unusable_manifests_are_one_line_errors(tmp_path, change, message):
    write_split(tmp_path, SEQUENCES)
    raw = json.loads((tmp_path / "manifest.json").read_text())
    change(raw)
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(CwmError, match=message) as info:
        read_manifest(tmp_path)
    assert "\n" not in str(info.value)


def test_missing_and_broken_pieces_say_what_to_do(tmp_path):
    with pytest.raises(CwmError, match=r"not a trace dataset .* cwm data build"):
        read_manifest(tmp_path)
    write_split(tmp_path, SEQUENCES)
    manifest = read_manifest(tmp_path)
    with pytest.raises(CwmError, match="no split 'heldout'; splits: train"):
        TokenSplit(tmp_path, manifest, "heldout")
    (tmp_path / "train" / "tokens-00000.bin").write_bytes(b"\x01\x02\x03")  # not whole ids
    with pytest.raises(CwmError, match=r"cannot read the token shard .* cwm data build"):
        TokenSplit(tmp_path, manifest, "train")
    (tmp_path / "train" / "tokens-00000.bin").write_bytes(b"\x00" * 8)  # shorter than the index
    with pytest.raises(CwmError, match="points past the 2 ids"):
        TokenSplit(tmp_path, manifest, "train")
    untokenized = Manifest(splits={"train": SplitFiles(traces=["traces-00000.jsonl"], count=4)})
    with pytest.raises(CwmError, match=r"no token shards; .* tokenize=true"):
        TokenSplit(tmp_path, untokenized, "train")


def test_ids_are_a_view_numpy_can_wrap(tmp_path):
    np = pytest.importorskip("numpy")
    write_split(tmp_path, SEQUENCES)
    split = TokenSplit(tmp_path, read_manifest(tmp_path), "train")
    assert np.frombuffer(split.ids(1), dtype="<u4").tolist() == [70000, 1]
    assert array("I", split.ids(3)).tolist() == [9] * 10
