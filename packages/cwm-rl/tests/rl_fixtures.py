"""Rows, a memorizing model and a running ``cwm serve`` for cwm-rl's tests (a uniquely named
module, not a conftest).

`memorize` trains a small model until greedy decoding reproduces the environments'
reference answers: a real model whose answers are known, so scores through the
in-process engine and through the server can be checked exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import torch

from cwm.core.model import FLAVORS, Transformer, build_model

OUTPUT_ROWS = [
    {"id": "double", "code": "def f(x):\n    return x * 2\n", "input": "21", "output": "42"},
    {
        "id": "set",
        "code": "def f(xs):\n    return set(xs)\n",
        "input": "[3, 1, 3]",
        "output": "{1, 3}",
    },
]
TRACE_ROWS = [
    {
        "id": "sum",
        "call": "f(1)",
        "source": "def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n",
    },
    {
        "id": "larger",
        "call": "g(1, 5)",
        "source": "def g(a, b):\n    if a > b:\n        return a\n    return b\n",
    },
]
#: (task, rows) the memorized model learns; next-frame shares the full traces' tokens
LEARNED = {
    "output-prediction": OUTPUT_ROWS,
    "input-prediction": OUTPUT_ROWS,
    "output-prediction-trace": OUTPUT_ROWS,
    "trace-prediction": TRACE_ROWS,
}
MEMORIZER = msgspec.structs.replace(
    FLAVORS["debug"], dim=128, n_heads=4, n_kv_heads=2, head_dim=32, ffn_dim=256
)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def memorize(
    sequences: list[list[int]], prompt_lengths: list[int], *, max_steps: int = 600
) -> Transformer:
    """A model whose greedy continuation of ``seq[:prompt_len]`` is the rest of ``seq``."""
    torch.manual_seed(0)
    model = build_model(MEMORIZER, seed=0)
    width = max(map(len, sequences))
    tokens = torch.zeros(len(sequences), width, dtype=torch.long)
    learn = torch.zeros(len(sequences), width - 1, dtype=torch.bool)
    for i, s in enumerate(sequences):
        tokens[i, : len(s)] = torch.tensor(s)
        learn[i, : len(s) - 1] = True
    check = learn.clone()
    for i, p in enumerate(prompt_lengths):
        check[i, : p - 1] = False
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    done_at = None
    for step in range(1, max_steps + 1):
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits[learn], tokens[:, 1:][learn])
        opt.zero_grad()
        loss.backward()
        opt.step()
        # teacher-forced argmax right at every answer token = greedy reproduces the answers;
        # 40 more steps widen the margins, so the engine's paged numerics agree too
        hits = logits.argmax(-1) == tokens[:, 1:]
        if done_at is None and step % 20 == 0 and bool(hits[check].all()):
            done_at = step
        if done_at is not None and step >= done_at + 40:
            return model.eval()
    raise AssertionError(f"the model did not memorize the answers in {max_steps} steps")
