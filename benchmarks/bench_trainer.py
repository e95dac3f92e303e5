"""Trainer overhead: `cwm train`'s loop against a bare hand-written loop, same run.

Both train the tiny flavor from the same initialization on the same batches
(standard-library sources as documents, packed 8 x 512) with the same AdamW and
gradient clipping, for the same number of steps; the trainer's time covers its
whole ``run()`` (data planning and tensors, LR schedule, loss, clipping,
metrics log), the bare loop gets its batches ready-made. Goal: the
trainer's tokens/s is at least 0.95 of the bare loop's. Rounds alternate so a
load spike on a shared machine hits both.

Also: the padding of length-bucketed batches against random batches of one
example a row, on the same documents.
"""

from __future__ import annotations

import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import options, write_result

from cwm.core.config import load_config
from cwm.core.io import write_records
from cwm.core.model import build_model
from cwm.core.schemas import Document
from cwm.train.config import DataSource, TrainConfig
from cwm.train.data.loader import IGNORE, Loader
from cwm.train.data.sources import open_source
from cwm.train.trainer import Trainer

STEPS, ROUNDS = 8, 3
BATCH, SEQ_LEN = 8, 512


def documents(path: Path) -> Path:
    lib = Path(sysconfig.get_paths()["stdlib"])
    docs = [
        Document(id=p.name, text=p.read_text(errors="replace")) for p in sorted(lib.glob("*.py"))
    ]
    write_records(path, docs)
    return path


def config(run_dir: Path, docs: Path, **data: object) -> TrainConfig:
    return load_config(
        TrainConfig,
        preset={
            "run_dir": str(run_dir),
            "steps": STEPS,
            "model": {"flavor": "tiny"},
            "data": {
                "sources": [{"path": str(docs)}],
                "seq_len": SEQ_LEN,
                "batch_size": BATCH,
                **data,
            },
            "checkpoint": {"final": False, "resume": False},
            "metrics": {"progress": False},
            "hardware": {"backend": "cpu"},
        },
    )


def trainer_run(root: Path, docs: Path, n: int) -> tuple[float, int]:
    trainer = Trainer(config(root / f"run-{n}", docs))
    start = time.perf_counter()
    summary = trainer.run()
    return time.perf_counter() - start, summary["tokens"]


def bare_run(cfg: TrainConfig, batches: list) -> float:
    """What one would write by hand: forward, loss, backward, clip, AdamW."""
    model = build_model(cfg.model_config(), seed=cfg.seed)
    o = cfg.optim
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=o.lr,
        betas=(o.beta1, o.beta2),
        eps=o.eps,
        weight_decay=o.weight_decay,
        fused=True,  # the kernel the trainer's AdamW takes (cwm-train 0.6.0)
    )
    start = time.perf_counter()
    for inputs, labels, doc_ids in batches:
        logits = model(inputs, doc_ids=doc_ids)
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def padding(docs: Path) -> dict[str, float]:
    source = open_source(DataSource(path=str(docs)), progress=False)
    out = {}
    for name, window in (("bucketed", 512), ("random", 8)):  # a window of 8 is one batch
        cfg = config(Path("unused"), docs, mode="bucket", seq_len=2048, window=window).data
        loader = Loader([source], [1.0], cfg, seed=0)
        for _ in range(60):
            loader.next_batch()
        out[name] = loader.padding_fraction
    return out


def main() -> None:
    global STEPS, ROUNDS, BATCH, SEQ_LEN
    args = options(__doc__, "2 steps of 2 x 128 tokens, one round")
    if args.quick:
        STEPS, ROUNDS, BATCH, SEQ_LEN = 2, 1, 2, 128
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        docs = documents(root / "docs.jsonl")
        cfg = config(root / "bare", docs)
        loader = Loader(
            [open_source(cfg.data.sources[0], progress=False)], [1.0], cfg.data, seed=cfg.seed
        )
        ready = [loader.next_batch() for _ in range(STEPS)]  # what the trainer will draw
        batches = [(b.inputs, b.labels, b.doc_ids) for b in ready]
        tokens = sum(b.tokens for b in ready)
        trainer_times, bare_times = [], []
        for r in range(ROUNDS):
            seconds, trainer_tokens = trainer_run(root, docs, r)
            trainer_times.append(seconds)
            bare_times.append(bare_run(cfg, batches))
        assert trainer_tokens == tokens, "the trainer drew other batches"
        trainer_tps = trainer_tokens / min(trainer_times)
        bare_tps = tokens / min(bare_times)
        pads = padding(docs)
    write_result(
        "trainer",
        {
            "what": "tiny flavor, 8 x 512 packed rows of stdlib sources, AdamW + clipping, CPU fp32",
            "steps": STEPS,
            "rounds": ROUNDS,
            "trainer_tokens_per_s": trainer_tps,
            "bare_loop_tokens_per_s": bare_tps,
            "ratio": trainer_tps / bare_tps,
            "goal_ratio": 0.95,
            "trainer_seconds": trainer_times,
            "bare_seconds": bare_times,
            "padding_fraction_bucketed": pads["bucketed"],
            "padding_fraction_random": pads["random"],
        },
        args.out,
    )


if __name__ == "__main__":
    main()
