"""`build_dataset`: corpora in, a sharded trace dataset out (the ``cwm data build`` command).

Steps: take tasks from every corpus and trace them in isolated workers; keep
what `Selector` accepts (bounded, side-effect free, not a duplicate, within
per-function quotas); for corpora that can refine, trace variants of the calls
that worked for functions still under quota; split whole functions into
train/heldout; write the shards, their token files and the statistics.

The layout of ``out`` is defined once, in `cwm.core.dataset` (the trainer reads
it through the same module): manifest.json, stats.json (and stats.png with
matplotlib), and per split ``traces-NNNNN.jsonl`` with their ``tokens-NNNNN.bin/.idx``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from tqdm import tqdm

from cwm.core.config import to_dict
from cwm.core.dataset import (
    Manifest,
    SplitFiles,
    TokenizerInfo,
    token_stem,
    write_manifest,
    write_token_shard,
)
from cwm.core.errors import CwmError
from cwm.core.formats.trace import trace_segments
from cwm.core.io import ShardWriter, atomic_open
from cwm.core.schemas import Trace
from cwm.data.corpora.base import RefiningCorpus
from cwm.data.corpora.registry import from_spec
from cwm.data.dataset.config import BuildConfig
from cwm.data.dataset.select import Selector, function_of
from cwm.data.dataset.split import is_heldout
from cwm.data.dataset.stats import plot, split_stats
from cwm.data.trace.backends import resolve
from cwm.data.trace.task import TraceTask
from cwm.data.trace.workers.pool import TracePool
from cwm.data.trace.workers.task_process import SCREEN_ANY_RAISE

if TYPE_CHECKING:
    from cwm.core.tokenizer import Tokenizer

SPLITS = ("train", "heldout")


@dataclass
class BuildReport:
    out: Path
    stats: dict[str, Any] = field(default_factory=dict)


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():  # --force replaces a dataset, never another file
        raise CwmError(f"--out {out} is a file, not a directory; choose a directory for --out")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise CwmError(
                f"{out} is not empty; choose another --out or pass --force to replace it"
            )
        for name in ("train", "heldout", "manifest.json", "stats.json", "stats.png"):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _trace_all(
    pool: TracePool, items: Iterable[TraceTask | Trace], selector: Selector, bar: tqdm
) -> None:
    """Trace the tasks (finished Traces pass straight through) and offer every trace to the selector."""
    ready: list[Trace] = []

    def tasks() -> Iterator[TraceTask]:
        for item in items:
            if isinstance(item, Trace):
                ready.append(item)
            elif selector.raised_quota_full(str(item.meta.get("function") or item.id)):
                # a trace of it that raises would be dropped: the screener leaves it untraced
                yield msgspec.structs.replace(item, meta={**item.meta, SCREEN_ANY_RAISE: True})
            else:
                yield item

    for trace in pool.imap(tasks()):
        if SCREEN_ANY_RAISE in trace.meta:  # the build's hint to the screener, not the trace's
            meta = {k: v for k, v in trace.meta.items() if k != SCREEN_ANY_RAISE}
            trace = msgspec.structs.replace(trace, meta=meta)
        for done in (*ready, trace):
            selector.offer(done)
            bar.update(1)
            bar.set_postfix(kept=len(selector.kept), functions=len(selector.calls), refresh=False)
        ready.clear()
    for done in ready:
        selector.offer(done)
        bar.update(1)


def build_dataset(
    config: BuildConfig, *, force: bool = False, progress: bool = True
) -> BuildReport:
    started = time.perf_counter()
    out = Path(config.out)
    _prepare_out(out, force)
    options = {
        "candidates_per_function": config.candidates_per_function,
        "max_source_lines": config.max_source_lines,
        "max_functions": config.max_functions or None,
        "seed": config.seed,
        "progress": progress,
    }
    corpora = [from_spec(spec, **options) for spec in config.corpora]
    selector = Selector(config)
    workers = config.workers or os.cpu_count() or 1
    with TracePool(config.trace, workers=workers) as pool:
        with tqdm(desc="tracing", unit="task", disable=not progress) as bar:
            for corpus in corpora:
                _trace_all(pool, corpus.tasks(), selector, bar)
        if config.refine:
            with tqdm(desc="refining", unit="task", disable=not progress) as bar:
                for corpus in corpora:
                    if isinstance(corpus, RefiningCorpus):
                        more = corpus.more_tasks(selector.calls, selector.wanted())
                        _trace_all(pool, more, selector, bar)
    traced_seconds = time.perf_counter() - started
    stats = _write(out, config, selector, progress)
    stats["seconds"] = {
        "tracing": round(traced_seconds, 1),
        "total": round(time.perf_counter() - started, 1),
    }
    stats["dropped"] = dict(selector.dropped.most_common())
    stats["python"] = sys.version.split()[0]
    stats["tracer"] = resolve(config.trace.backend)
    with atomic_open(out / "stats.json", "w") as f:
        json.dump(stats, f, indent=2)
    return BuildReport(out, stats)


def _write(out: Path, config: BuildConfig, selector: Selector, progress: bool) -> dict[str, Any]:
    by_split: dict[str, list[Trace]] = {s: [] for s in SPLITS}
    for trace in sorted(selector.kept, key=lambda t: (function_of(t), t.id)):
        split = (
            "heldout"
            if is_heldout(function_of(trace), config.heldout_fraction, config.seed)
            else "train"
        )
        by_split[split].append(trace)
    tokenizer = None
    if config.tokenize:
        from cwm.core.tokenizer import Tokenizer

        tokenizer = Tokenizer(config.vocab)
    splits: dict[str, SplitFiles] = {}
    stats: dict[str, Any] = {"splits": {}}
    all_frames: list[int] = []
    all_tokens: list[int] = []
    for split, traces in by_split.items():
        directory = out / split
        directory.mkdir(parents=True, exist_ok=True)
        with ShardWriter(
            directory, "traces", shard_size=config.shard_size, format=config.format
        ) as writer:
            for trace in traces:
                writer.write(trace)
        lengths: list[int] | None = None
        if tokenizer is not None:
            lengths = []
            chunks = [
                traces[i : i + config.shard_size] for i in range(0, len(traces), config.shard_size)
            ]
            for index, chunk in enumerate(
                tqdm(chunks, desc=f"tokenizing {split}", disable=not progress)
            ):
                lengths += write_token_shard(directory, index, _token_rows(tokenizer, chunk))
        splits[split] = SplitFiles(
            traces=[p.name for p in writer.paths],
            tokens=[token_stem(i) for i in range(len(writer.paths))] if tokenizer else [],
            count=len(traces),
        )
        stats["splits"][split] = split_stats(traces, lengths)
        all_frames += [len(t.frames) for t in traces]
        all_tokens += lengths or []
    everything = [t for traces in by_split.values() for t in traces]
    stats["all"] = split_stats(everything, all_tokens if tokenizer else None)
    info = TokenizerInfo(n_vocab=tokenizer.n_vocab, vocab=tokenizer.vocab) if tokenizer else None
    if config.plot and all_frames:
        stats["plot"] = (
            "stats.png" if plot(out / "stats.png", all_frames, all_tokens or None) else None
        )
    config_doc = json.loads(json.dumps(to_dict(config), default=str))
    write_manifest(out, Manifest(splits=splits, tokenizer=info, config=config_doc))
    return stats


def _token_rows(tokenizer: Tokenizer, traces: list[Trace]) -> Iterator[tuple[list[int], int]]:
    """Each trace's ids in the CWM trace format, and its prompt length (before the first frame)."""
    for trace in traces:
        seg = trace_segments(tokenizer, trace)
        yield seg.ids(), len(seg.prompt)


def load_traces(out: Path | str, split: str = "train") -> Iterator[Trace]:
    """The Trace records of one split of a built dataset."""
    from cwm.core.io import read_records

    return read_records(Path(out) / split, Trace)
