import os

import msgspec
import pytest

from cwm.core.errors import CwmError
from cwm.core.io import (
    Appender,
    RecordError,
    RecordReader,
    ShardWriter,
    atomic_open,
    read_records,
    write_records,
)
from cwm.core.schemas import SCHEMA_VERSION, Document

DOCS = [Document(id=str(i), text=f"text {i}") for i in range(5)]


@pytest.mark.parametrize("suffix", [".jsonl", ".msgpack"])
def test_write_then_read(tmp_path, suffix):
    path = tmp_path / f"docs{suffix}"
    assert write_records(path, DOCS) == 5
    assert list(read_records(path)) == DOCS
    assert list(read_records(path, Document)) == DOCS


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "docs.jsonl"
    write_records(path, DOCS)

    def broken():
        yield DOCS[0]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_records(path, broken())
    assert list(read_records(path)) == DOCS
    assert [p.name for p in tmp_path.iterdir()] == ["docs.jsonl"]  # no temp file left


def test_atomic_open_never_shows_a_partial_file(tmp_path):
    path = tmp_path / "x.bin"
    with atomic_open(path) as f:
        f.write(b"partial")
        assert not path.exists()
    assert path.read_bytes() == b"partial"


def test_shard_writer_rotates_and_reads_back_as_a_directory(tmp_path):
    with ShardWriter(tmp_path, "docs", shard_size=2, format="msgpack") as w:
        for d in DOCS:
            w.write(d)
    assert [p.name for p in w.paths] == [
        "docs-00000.msgpack",
        "docs-00001.msgpack",
        "docs-00002.msgpack",
    ]
    assert list(read_records(tmp_path)) == DOCS


def test_shard_writer_drops_the_open_shard_when_the_job_fails(tmp_path):
    with pytest.raises(KeyError), ShardWriter(tmp_path, shard_size=2) as w:
        for d in DOCS[:3]:
            w.write(d)
        raise KeyError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["shard-00000.jsonl"]


def test_bad_jsonl_record_names_file_and_line(tmp_path):
    path = tmp_path / "docs.jsonl"
    write_records(path, DOCS[:2])
    with open(path, "a") as f:
        f.write('{"kind": "document", "id": 3}\n')
        f.write("not json\n")
        f.write(msgspec.json.encode(DOCS[4]).decode() + "\n")
    with pytest.raises(
        RecordError, match=r"docs\.jsonl:3: Expected `str`, got `int` - at `\$\.id`"
    ):
        list(read_records(path))
    reader = RecordReader(path, on_error="skip")
    assert list(reader) == [DOCS[0], DOCS[1], DOCS[4]]
    assert [m.split(": ")[0][-7:] for m in reader.skipped] == ["jsonl:3", "jsonl:4"]


def test_bad_msgpack_record_names_its_index(tmp_path):
    path = tmp_path / "docs.msgpack"
    write_records(path, DOCS[:3])
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # cut the last record short
    with pytest.raises(RecordError, match=r"docs\.msgpack:3: truncated record"):
        list(read_records(path))
    assert list(read_records(path, on_error="skip")) == DOCS[:2]


def test_records_from_a_newer_schema_are_refused(tmp_path):
    path = tmp_path / "new.jsonl"
    path.write_text(
        f'{{"kind": "document", "id": "x", "text": "", "schema_version": {SCHEMA_VERSION + 1}}}\n'
    )
    with pytest.raises(RecordError, match="newer than this cwm-core knows"):
        list(read_records(path))


def test_appender_resumes_after_a_crash_mid_line(tmp_path):
    path = tmp_path / "out.jsonl"
    with Appender(path) as out:
        out.write(DOCS[0])
        out.write(DOCS[1])
    with open(path, "ab") as f:  # a crash while writing the third line
        f.write(b'{"kind": "document", "id": "2", "te')
    with Appender(path) as out:
        out.write(DOCS[2])
    assert list(read_records(path)) == DOCS[:3]


def test_unknown_suffix_and_missing_path(tmp_path):
    with pytest.raises(CwmError, match=r"use \.jsonl or \.msgpack"):
        write_records(tmp_path / "x.csv", DOCS)
    with pytest.raises(CwmError, match="no such file"):
        list(read_records(tmp_path / "missing.jsonl"))


def test_temp_files_in_a_directory_are_not_read(tmp_path):
    write_records(tmp_path / "a.jsonl", DOCS[:1])
    (tmp_path / ".b.jsonl.tmp-1").write_text("garbage")
    os.makedirs(tmp_path / "sub")
    assert list(read_records(tmp_path)) == DOCS[:1]
