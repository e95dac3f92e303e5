"""`trace_batch`: a tasks JSONL file in, one trace record per task out, resumable and shardable.

Each input line is ``{"id", "source", "call"}`` (plus optional ``module`` and
``meta``). Each output line is a `Trace` record, in input order. A line that
is not a valid task becomes an ``invalid`` record; nothing stops the batch.
Ids already in the output are skipped, so an interrupted batch resumes where it
stopped. One record per id: a later line with an id seen before is skipped and
counted (`BatchSummary.duplicate_ids`). An id that cannot be written as UTF-8 (a
lone surrogate such as ``"a\\ud800"``) makes that line ``invalid``, under the id
with its surrogates escaped. ``shard=(k, n)`` takes the lines whose index is ``k`` modulo ``n``, so
``n`` machines can split one file.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from tqdm import tqdm

from cwm.core.errors import CwmError
from cwm.core.io import Appender, read_records
from cwm.core.schemas import Trace
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.runner import invalid_trace
from cwm.data.trace.task import TraceTask
from cwm.data.trace.workers.pool import TracePool


@dataclass
class BatchSummary:
    written: int = 0
    skipped: int = 0  # already in the output
    outcomes: Counter[str] = field(default_factory=Counter)
    duplicate_ids: int = 0  # lines skipped because an earlier line had their id


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N``."""
    if text is None:
        return None
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise CwmError(f"--shard expects K/N such as 0/4, got {text!r}") from None
    if not 0 <= k < n:
        raise CwmError(f"--shard {text}: K must be in 0..N-1 (shards are numbered from 0)")
    return k, n


def _done_ids(out: Path) -> set[str]:
    if not out.exists():
        return set()
    return {r.id for r in read_records(out, Trace, on_error="skip")}


def _lines(path: Path, shard: tuple[int, int] | None) -> Iterator[tuple[int, bytes]]:
    k, n = shard or (0, 1)
    with open(path, "rb") as f:
        index = 0
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            if index % n == k:
                yield lineno, line
            index += 1


def _task_or_invalid(path: Path, lineno: int, line: bytes) -> TraceTask | Trace:
    try:
        return _DECODE(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        try:
            data = json.loads(line)
            raw_id = data.get("id") if isinstance(data, dict) else None
        except ValueError:
            raw_id = None
        task_id = str(raw_id or f"line-{lineno}")
        # JSON allows "\ud800", but no UTF-8 file can hold it: escape it for the record
        safe_id = task_id.encode("utf-8", "backslashreplace").decode("utf-8")
        task = TraceTask(id=safe_id, source="", call="")
        reason = "its id is not valid Unicode (a lone surrogate)" if safe_id != task_id else exc
        return invalid_trace(task, f"{path}:{lineno}: not a task: {reason}")


_DECODE = msgspec.json.Decoder(TraceTask).decode


def trace_batch(
    tasks_path: Path | str,
    out_path: Path | str,
    *,
    config: TraceConfig | None = None,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
) -> BatchSummary:
    tasks_path, out_path = Path(tasks_path), Path(out_path)
    if not tasks_path.is_file():
        raise CwmError(f"{tasks_path}: no such tasks file")
    done = _done_ids(out_path)
    summary = BatchSummary()
    total = sum(1 for _ in _lines(tasks_path, shard))
    seen: set[str] = set()
    pending: deque[TraceTask | Trace] = deque()

    def items() -> Iterator[TraceTask]:
        for lineno, line in _lines(tasks_path, shard):
            item = _task_or_invalid(tasks_path, lineno, line)
            if item.id in done:
                summary.skipped += 1
                bar.update(1)
                continue
            if item.id in seen:  # one record per id: the first line's
                summary.duplicate_ids += 1
                bar.update(1)
                continue
            seen.add(item.id)
            pending.append(item)
            if isinstance(item, TraceTask):
                yield item

    def write(trace: Trace) -> None:
        out.write(trace)
        summary.written += 1
        summary.outcomes[trace.outcome] += 1
        bar.update(1)

    with (
        tqdm(total=total, unit="task", desc="tracing", disable=not progress) as bar,
        Appender(out_path) as out,
        TracePool(config or TraceConfig(), workers=workers) as pool,
    ):
        for trace in pool.imap(items()):
            while not isinstance(item := pending.popleft(), TraceTask):
                write(item)
            write(trace)
        for item in pending:  # bad lines after the last task
            write(item)  # type: ignore[arg-type]
    return summary
