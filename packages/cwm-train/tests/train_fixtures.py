"""Test data for cwm-train: traces of real Python, written in the dataset layout of cwm-core.

The traces are recorded here with sys.settrace (this package may not use cwm-data's
tracer); `write_dataset` writes them through `cwm.core.dataset`, as `cwm data build` does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from cwm.core.dataset import (
    Manifest,
    SplitFiles,
    TokenizerInfo,
    token_stem,
    write_manifest,
    write_token_shard,
)
from cwm.core.formats.trace import trace_segments
from cwm.core.io import write_records
from cwm.core.schemas import CallFrame, Document, LineFrame, ReturnFrame, Trace
from cwm.core.tokenizer import Tokenizer

SOURCE = """def collatz(n):
    steps = 0
    while n != 1:
        if n % 2:
            n = 3 * n + 1
        else:
            n = n // 2
        steps += 1
    return steps
"""


def record_trace(n: int) -> Trace:
    """The trace of ``collatz(n)``, recorded with sys.settrace."""
    namespace: dict = {}
    exec(compile(SOURCE, "<collatz>", "exec"), namespace)
    lines = SOURCE.split("\n")
    frames: list = []

    def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
        if frame.f_code.co_filename != "<collatz>":
            return None
        text = lines[frame.f_lineno - 1]
        local = {k: repr(v) for k, v in frame.f_locals.items()}
        if event == "call":
            frames.append(CallFrame(line=text, lineno=frame.f_lineno, locals=local))
        elif event == "line":
            frames.append(LineFrame(line=text, lineno=frame.f_lineno, locals=local))
        elif event == "return":
            frames.append(ReturnFrame(line=text, lineno=frame.f_lineno, value=repr(arg)))
        return tracer

    sys.settrace(tracer)
    try:
        result = namespace["collatz"](n)
    finally:
        sys.settrace(None)
    return Trace(
        id=f"collatz-{n}",
        source=SOURCE,
        entry="collatz",
        entry_line=1,
        call=f"collatz({n})",
        frames=frames,
        outcome="returned",
        result=repr(result),
    )


def write_dataset(root: Path, splits: dict[str, list[Trace]], vocab: str | None = None) -> Path:
    """A dataset directory in the layout of `cwm.core.dataset`, as `cwm data build` writes it."""
    tok = Tokenizer(vocab)
    files = {}
    for split, traces in splits.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        write_records(root / split / "traces-00000.jsonl", traces)
        segments = [trace_segments(tok, trace) for trace in traces]
        write_token_shard(root / split, 0, [(seg.ids(), len(seg.prompt)) for seg in segments])
        files[split] = SplitFiles(
            traces=["traces-00000.jsonl"], tokens=[token_stem(0)], count=len(traces)
        )
    write_manifest(root, Manifest(splits=files, tokenizer=TokenizerInfo(tok.n_vocab, tok.vocab)))
    return root


def collatz_dataset(root: Path, train: int = 60, heldout: int = 8) -> Path:
    traces = [record_trace(n) for n in range(2, 2 + train + heldout)]
    return write_dataset(root, {"train": traces[:train], "heldout": traces[train:]})


def collatz_config(run_dir: Path, data: Path, steps: int) -> Any:
    """A TrainConfig: the debug model learning the collatz traces at ``data`` fast."""
    from cwm.core.config import load_config
    from cwm.train.config import TrainConfig

    preset = {
        "run_dir": str(run_dir),
        "steps": steps,
        "model": {"flavor": "debug"},
        "data": {"sources": [{"path": str(data)}], "seq_len": 256, "batch_size": 4},
        "optim": {"lr": 1e-2, "warmup_steps": 5},
        "metrics": {"progress": False},
        "checkpoint": {"final": False},
    }
    return load_config(TrainConfig, preset=preset)


def write_documents(path: Path, n: int = 40) -> Path:
    """Python source documents from this interpreter's standard library."""
    import sysconfig

    lib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(lib.glob("*.py"))[:n]
    write_records(
        path, [Document(id=f.name, text=f.read_text()[:3000], source=str(f)) for f in files]
    )
    return path


def write_toml(path: Path, config: Any) -> Path:
    """A config struct as a TOML file (what `cwm train --config` reads)."""
    path.write_text(_toml(msgspec.to_builtins(config)))
    return path


def _toml(data: dict, prefix: str = "") -> str:
    scalars, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict) and not (value and key in ("options",)):
            tables.append(_toml(value, f"{prefix}{key}."))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            tables += [f"[[{prefix}{key}]]\n" + _toml(item) for item in value]
        elif isinstance(value, dict):
            scalars.append(
                f"{key} = {{{', '.join(f'{k} = {json.dumps(v)}' for k, v in value.items())}}}"
            )
        elif value is not None:
            scalars.append(f"{key} = {json.dumps(value)}")
    head = f"[{prefix[:-1]}]\n" if prefix and scalars else ""
    return head + "".join(s + "\n" for s in scalars) + "".join(tables)
