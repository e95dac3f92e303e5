"""The batch stream: sources, mixture, packing into tensors, and a resumable position."""

import json
import shutil
from collections import Counter

import msgspec
import pytest
import torch
from train_fixtures import collatz_dataset, record_trace, write_dataset, write_documents

from cwm.core.errors import CwmError
from cwm.train.config import DataConfig, DataSource
from cwm.train.data.loader import IGNORE, Loader
from cwm.train.data.sources import open_source


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return collatz_dataset(root / "collatz"), write_documents(root / "docs.jsonl")


def loader(sources, weights, **data):
    cfg = msgspec.convert({"seq_len": 64, "batch_size": 4, "window": 32, **data}, DataConfig)
    return Loader(sources, weights, cfg, seed=3, unit=2)


def test_dataset_source_reads_the_token_shards(data):
    src = open_source(DataSource(path=str(data[0])))
    ids, mask = src.example(0)
    trace = record_trace(2)  # the first train trace, in shard order
    from cwm.core.formats.trace import trace_segments
    from cwm.core.tokenizer import Tokenizer

    seg = trace_segments(Tokenizer(), trace)
    assert ids.tolist() == seg.ids() and len(src) == 60
    assert not mask[: len(seg.prompt)].any() and mask[len(seg.prompt) :].all()
    assert src.lengths[0] == len(ids)


def test_bad_sources_are_one_line_errors(data, tmp_path):
    with pytest.raises(CwmError, match="no such file"):
        open_source(DataSource(path=str(tmp_path / "nope")))
    with pytest.raises(CwmError, match="no split 'validation'"):
        open_source(DataSource(path=str(data[0]), split="validation"))
    with pytest.raises(CwmError, match="does not apply to traces"):
        open_source(DataSource(path=str(data[0]), mask="assistant"))


def test_token_shards_must_be_in_the_models_vocabulary(tmp_path):
    from cwm.core.tokenizer import Tokenizer

    small = write_dataset(
        tmp_path / "4k", {"train": [record_trace(n) for n in range(2, 6)]}, "cwm-code-4k"
    )
    src = open_source(DataSource(path=str(small)), tokenizer=Tokenizer("cwm-code-4k"))
    ids, _ = src.example(0)
    assert ids.max() < 4352 and Tokenizer("cwm-code-4k").decode(ids.tolist()).count("def ") >= 1
    with pytest.raises(
        CwmError,
        match=r"tokenized with 'cwm-code-4k' \(4352 ids\), not the model's 'cwm-code-16k' .* --set vocab=cwm-code-16k",
    ) as info:
        open_source(DataSource(path=str(small)))
    assert "\n" not in str(info.value)


def test_an_old_layout_says_how_to_rebuild(data, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(data[0], old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["layout_version"]  # what builds before the versioned layout wrote
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CwmError, match=r"layout 0 is older .* cwm data build --out") as info:
        open_source(DataSource(path=str(old)))
    assert "\n" not in str(info.value)


def test_packed_batches_keep_documents_apart(data):
    docs = open_source(DataSource(path=str(data[1])))
    traces = open_source(DataSource(path=str(data[0])))
    batch = loader([docs, traces], [1, 1], long="split").next_batch()
    assert batch.inputs.shape == (4, 64) and batch.doc_ids is not None
    for row in range(4):
        same = batch.doc_ids[row, 1:] == batch.doc_ids[row, :-1]
        # the last token of a document never predicts the first one of the next
        assert (batch.labels[row, :-1][~same] == IGNORE).all()
        # elsewhere, a label is the next input token
        keep = batch.labels[row, :-1] != IGNORE
        assert torch.equal(batch.labels[row, :-1][keep], batch.inputs[row, 1:][keep])


def test_the_position_resumes_the_same_batches(data):
    sources = [
        open_source(DataSource(path=str(data[0]))),
        open_source(DataSource(path=str(data[1]))),
    ]
    for mode in ("pack", "bucket"):
        a = loader(sources, [2, 1], mode=mode)
        for _ in range(7):  # into the second window, with carried rows
            a.next_batch()
        state = a.state_dict()
        expected = [a.next_batch() for _ in range(12)]
        b = loader(sources, [2, 1], mode=mode)
        b.load_state_dict(msgspec.json.decode(msgspec.json.encode(state)))  # survives JSON
        for want in expected:
            got = b.next_batch()
            assert torch.equal(got.inputs, want.inputs) and torch.equal(got.labels, want.labels)


def test_mixture_follows_the_weights(data):
    sources = [
        open_source(DataSource(path=str(data[0]))),
        open_source(DataSource(path=str(data[1]))),
    ]
    lo = loader(sources, [3, 1], window=400)
    lo.next_batch()
    examples = lo._plan[1]
    counts = Counter(src for src, _ in examples)
    assert counts[0] / (counts[0] + counts[1]) == pytest.approx(0.75, abs=0.06)


def test_bucketing_pads_less_the_more_examples_it_sorts(data):
    traces = open_source(DataSource(path=str(data[0])))
    sorted_ = loader([traces], [1], mode="bucket", seq_len=2048, window=64)
    random_ = loader([traces], [1], mode="bucket", seq_len=2048, window=4)  # a window is a batch
    for _ in range(30):
        batch = sorted_.next_batch()
        assert batch.doc_ids is None  # one example a row: plain causal attention
        assert (batch.padding.sum(1) == 0).any()  # padded to its longest row
        random_.next_batch()
    assert sorted_.padding_fraction < 0.5 * random_.padding_fraction


def _window_rows(lo):
    """The rows one window serves, in order, as (source, index, start, end) pieces,
    and the rows it carries into the next window."""
    lo.next_batch()
    batches, examples, after = lo._plan
    served = [[(*examples[slot], s, e) for slot, s, e in row] for batch in batches for row in batch]
    return served, [[tuple(p) for p in row] for row in after["carry"]]


def test_packed_rows_are_served_once_each_in_a_seeded_order(data):
    from cwm.train.data.batching import pack_rows

    traces = open_source(DataSource(path=str(data[0])))
    cfg = {"seq_len": 256, "batch_size": 2, "window": 60}
    lo = Loader([traces], [1], msgspec.convert(cfg, DataConfig), seed=3)
    served, carried = _window_rows(lo)
    examples = lo._plan[1]
    packed = pack_rows([int(traces.lengths[i]) for _, i in examples], 256, "truncate")
    expected = sorted([(*examples[slot], s, e) for slot, s, e in row] for row in packed)
    assert sorted(served + carried) == expected  # every row of the window exactly once
    fills = [sum(e - s for *_, s, e in row) for row in served]
    assert fills != sorted(fills, reverse=True)  # not first-fit decreasing's order
    other = Loader([traces], [1], msgspec.convert(cfg, DataConfig), seed=4)
    assert _window_rows(other)[0] != served  # the order depends on the seed
    again = Loader([traces], [1], msgspec.convert(cfg, DataConfig), seed=3)
    assert _window_rows(again) == (served, carried)  # and only on it
