"""Byte-level BPE training that writes tiktoken's file format.

Text is split with the Llama-3 pattern, equal chunks are counted once, and the
most frequent adjacent pair is merged until the vocabulary has ``n_ranks``
tokens. Ties break on the pair's bytes, and files are read in sorted order, so
the same corpus always gives the same file. Ranks 0-255 are the single bytes.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import sys
import sysconfig
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import regex
from tqdm import tqdm

from cwm.core.errors import CwmError
from cwm.core.io import atomic_open
from cwm.core.tokenizer.tokenizer import LLAMA3_PATTERN


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def python_files(roots: Iterable[Path | str]) -> list[Path]:
    """Every ``.py`` file under ``roots``, sorted, skipping installed third-party packages."""
    files: set[Path] = set()
    for root in map(Path, roots):
        if root.is_file():
            files.add(root)
        elif root.is_dir():
            files.update(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
        else:
            raise CwmError(f"{root}: no such file or directory")
    return sorted(files)


def read_texts(files: Iterable[Path], max_bytes: int | None = None) -> Iterator[str]:
    """File contents as text (undecodable files skipped), up to ``max_bytes`` in total."""
    total = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        total += len(text)
        if max_bytes is not None and total > max_bytes:
            return
        yield text


def count_chunks(texts: Iterable[str], pattern: str = LLAMA3_PATTERN) -> Counter[bytes]:
    """How often each pre-tokenized chunk occurs, as UTF-8 bytes."""
    split = regex.compile(pattern)
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(split.findall(text))
    out: Counter[bytes] = Counter()
    for chunk, n in counts.items():
        out[chunk.encode("utf-8", "surrogatepass")] += n
    return out


def train_bpe(chunks: Counter[bytes], n_ranks: int, *, progress: bool = True) -> list[bytes]:
    """The tokens in rank order: 256 single bytes, then merges until ``n_ranks``."""
    if n_ranks < 256:
        raise CwmError(f"a byte-level vocabulary needs at least 256 ranks, got {n_ranks}")
    vocab = [bytes([i]) for i in range(256)]
    index = {token: i for i, token in enumerate(vocab)}
    words = [list(chunk) for chunk in chunks]
    freqs = list(chunks.values())
    counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for w, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair in itertools.pairwise(word):
            counts[pair] += freq
            where[pair].add(w)

    def entry(pair: tuple[int, int]) -> tuple[int, bytes, bytes, int, int]:
        return (-counts[pair], vocab[pair[0]], vocab[pair[1]], *pair)

    heap = [entry(pair) for pair in counts]
    heapq.heapify(heap)
    bar = tqdm(total=n_ranks, initial=256, desc="bpe merges", disable=not progress, unit="tok")
    while len(vocab) < n_ranks and heap:
        negcount, _, _, a, b = heapq.heappop(heap)
        if counts.get((a, b)) != -negcount:
            continue  # a stale heap entry: the pair's count changed since it was pushed
        merged = vocab[a] + vocab[b]
        new = index.get(merged)
        if new is None:  # the same bytes can come from two different pairs
            new = index[merged] = len(vocab)
            vocab.append(merged)
            bar.update()
        touched: set[tuple[int, int]] = set()
        for w in where.pop((a, b)):
            word, freq = words[w], freqs[w]
            for pair in itertools.pairwise(word):
                counts[pair] -= freq
                touched.add(pair)
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            words[w] = out
            for pair in itertools.pairwise(out):
                counts[pair] += freq
                where[pair].add(w)
                touched.add(pair)
        for pair in touched:
            if counts[pair] > 0:
                heapq.heappush(heap, entry(pair))
            else:
                del counts[pair]
                where.pop(pair, None)
    bar.close()
    return vocab


def write_ranks(path: Path | str, tokens: list[bytes]) -> str:
    """Write tokens in tiktoken's format (atomically); returns the file's sha256."""
    data = b"".join(base64.b64encode(t) + b" %d\n" % rank for rank, t in enumerate(tokens))
    with atomic_open(path) as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def train_vocab(
    roots: Iterable[Path | str] | None = None,
    n_ranks: int = 16384,
    *,
    max_bytes: int | None = None,
    progress: bool = True,
) -> list[bytes]:
    """Train on the ``.py`` files under ``roots`` (default: this Python's standard library)."""
    files = python_files(roots or [stdlib_dir()])
    if not files:
        raise CwmError("no .py files found to train on")
    texts = read_texts(
        tqdm(files, desc="reading corpus", unit="file", disable=not progress), max_bytes
    )
    return train_bpe(count_chunks(texts), n_ranks, progress=progress)


def provenance(
    n_ranks: int, sha256: str, roots: list[str] | None, max_bytes: int | None = None
) -> dict[str, object]:
    """What reproduces a vocabulary file: written beside it as JSON."""
    command = f"cwm tokenizer train --ranks {n_ranks}" + "".join(
        f" --corpus {r}" for r in roots or []
    )
    if max_bytes is not None:
        command += f" --max-bytes {max_bytes}"
    return {
        "n_ranks": n_ranks,
        "sha256": sha256,
        "corpus": roots or ["<stdlib>"],
        "python": sys.version.split()[0],
        "pattern": LLAMA3_PATTERN,
        "command": command,
    }
