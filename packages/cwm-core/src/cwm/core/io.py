"""Reading and writing records: JSONL (readable) and msgpack (fast), sharded and atomic.

- ``.jsonl``: one JSON record a line.
- ``.msgpack``: each record is a msgpack object behind a 4-byte little-endian length.

Writers never leave a half-written file under the final name: they write a
temporary file and rename it. `Appender` is the exception, for resumable jobs:
it appends whole lines to a JSONL file, and a reader in ``skip`` mode (or
`Appender` itself on reopening) drops a last line cut short by a crash.

Readers name the file and line (or record index) of a bad record and either
stop (`RecordError`) or skip it and keep count.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

from cwm.core.errors import CwmError
from cwm.core.schemas import SCHEMA_VERSION, AnyRecord, Record

Format = Literal["jsonl", "msgpack"]
OnError = Literal["stop", "skip"]
SUFFIXES: dict[str, Format] = {".jsonl": "jsonl", ".msgpack": "msgpack"}
_LEN = struct.Struct("<I")


class RecordError(CwmError):
    """A record that cannot be read; the message starts with ``path:line:``."""

    def __init__(self, path: Path | str, where: int, reason: str):
        self.path, self.where, self.reason = str(path), where, reason
        super().__init__(f"{path}:{where}: {reason}")


def format_of(path: Path | str) -> Format:
    suffix = Path(path).suffix
    if suffix not in SUFFIXES:
        raise CwmError(f"{path}: unknown record file type {suffix!r}; use .jsonl or .msgpack")
    return SUFFIXES[suffix]


@contextmanager
def atomic_open(path: Path | str, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _encode(fmt: Format, record: Record) -> bytes:
    if fmt == "jsonl":
        return msgspec.json.encode(record) + b"\n"
    data = msgspec.msgpack.encode(record)
    return _LEN.pack(len(data)) + data


def write_records(path: Path | str, records: Iterable[Record]) -> int:
    """Write ``records`` to ``path`` atomically; the suffix picks the format. Returns the count."""
    fmt = format_of(path)
    n = 0
    with atomic_open(path) as f:
        for record in records:
            f.write(_encode(fmt, record))
            n += 1
    return n


class ShardWriter:
    """Writes ``DIR/PREFIX-00000.jsonl``, ``-00001``, ... with at most ``shard_size`` records each.

    Each shard appears atomically when it is full or when the writer closes.
    """

    def __init__(
        self,
        directory: Path | str,
        prefix: str = "shard",
        *,
        shard_size: int = 10_000,
        format: Format = "jsonl",
    ):
        self.directory, self.prefix = Path(directory), prefix
        self.shard_size, self.format = shard_size, format
        self.paths: list[Path] = []
        self._buffer: list[bytes] = []

    def write(self, record: Record) -> None:
        self._buffer.append(_encode(self.format, record))
        if len(self._buffer) >= self.shard_size:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        path = self.directory / f"{self.prefix}-{len(self.paths):05d}.{self.format}"
        with atomic_open(path) as f:
            f.writelines(self._buffer)
        self.paths.append(path)
        self._buffer = []

    def close(self) -> list[Path]:
        self._flush()
        return self.paths

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:  # a failed job leaves its last shard unwritten, never half-written
            self.close()


class Appender:
    """Appends records to a JSONL file one whole line at a time (for resumable jobs)."""

    def __init__(self, path: Path | str, *, fsync_every: int = 64):
        self.path = Path(path)
        if format_of(self.path) != "jsonl":
            raise CwmError(f"{path}: only .jsonl files can be appended to")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_partial_last_line(self.path)
        self._file = open(self.path, "ab")  # noqa: SIM115 (closed by close())
        self._fsync_every, self._pending = fsync_every, 0

    def write(self, record: Record) -> None:
        self._file.write(_encode("jsonl", record))
        self._file.flush()
        self._pending += 1
        if self._pending >= self._fsync_every:
            os.fsync(self._file.fileno())
            self._pending = 0

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _drop_partial_last_line(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        f.truncate(f.read().rfind(b"\n") + 1)  # a crash cut the last line short


class RecordReader:
    """Iterates the records of one or more files, checking each against ``type``.

    ``on_error="stop"`` raises `RecordError` at the first bad record;
    ``"skip"`` warns once per file, skips it, and keeps the messages in ``skipped``.
    """

    def __init__(
        self,
        paths: Path | str | Iterable[Path | str],
        type: Any = AnyRecord,
        *,
        on_error: OnError = "stop",
    ):
        self.paths = expand_paths(paths)
        self.on_error = on_error
        self.skipped: list[str] = []
        self._json = msgspec.json.Decoder(type)
        self._msgpack = msgspec.msgpack.Decoder(type)

    def __iter__(self) -> Iterator[Any]:
        for path in self.paths:
            reader = self._jsonl if format_of(path) == "jsonl" else self._msgpack_frames
            warned = False
            for _where, item in reader(path):
                if isinstance(item, RecordError):
                    if self.on_error == "stop":
                        raise item
                    self.skipped.append(str(item))
                    if not warned:
                        print(f"cwm: warning: skipping bad record {item}", file=sys.stderr)
                        warned = True
                    continue
                yield item

    def _check(self, path: Path, where: int, record: Any) -> Any:
        version = getattr(record, "schema_version", SCHEMA_VERSION)
        if version > SCHEMA_VERSION:
            return RecordError(
                path,
                where,
                f"schema_version {version} is newer than this cwm-core knows "
                f"({SCHEMA_VERSION}); upgrade cwm-core",
            )
        return record

    def _jsonl(self, path: Path) -> Iterator[tuple[int, Any]]:
        with open(path, "rb") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield lineno, self._check(path, lineno, self._json.decode(line))
                except (msgspec.DecodeError, ValueError) as exc:
                    yield lineno, RecordError(path, lineno, str(exc))

    def _msgpack_frames(self, path: Path) -> Iterator[tuple[int, Any]]:
        data = path.read_bytes()
        pos, index = 0, 0
        while pos < len(data):
            index += 1
            if pos + _LEN.size > len(data):
                yield index, RecordError(path, index, "truncated record length")
                return
            (size,) = _LEN.unpack_from(data, pos)
            pos += _LEN.size
            if pos + size > len(data):
                yield index, RecordError(path, index, f"truncated record ({size} bytes expected)")
                return
            try:
                yield index, self._check(path, index, self._msgpack.decode(data[pos : pos + size]))
            except (msgspec.DecodeError, ValueError) as exc:
                yield index, RecordError(path, index, str(exc))
            pos += size


def read_records(
    paths: Path | str | Iterable[Path | str],
    type: Any = AnyRecord,
    *,
    on_error: OnError = "stop",
) -> Iterator[Any]:
    """Iterate the records in ``paths`` (files, or directories of shards)."""
    return iter(RecordReader(paths, type, on_error=on_error))


def expand_paths(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """Files as given; a directory becomes its ``*.jsonl`` and ``*.msgpack`` shards, sorted."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    out: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            out += sorted(
                p for p in item.iterdir() if p.suffix in SUFFIXES and not p.name.startswith(".")
            )
        elif item.exists():
            out.append(item)
        else:
            raise CwmError(f"{item}: no such file or directory")
    return out
