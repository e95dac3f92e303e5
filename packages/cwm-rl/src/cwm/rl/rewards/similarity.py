"""Patch similarity as in SWE-RL / CWM: per-file SequenceMatcher ratios of normalized diffs.

A patch is normalized per file: the hunks (``@@`` header and lines, each hunk
stripped), joined by newlines, behind a ``rename from A to B`` header for a
rename. Binary files are ignored. Only files the oracle patch touches count
(a predicted change elsewhere neither helps nor hurts); a file the oracle
changes but the prediction leaves alone scores 0.
"""

from __future__ import annotations

import difflib

from cwm.data.envs.patches import split_files


def normalized_files(patch: str) -> dict[str, str]:
    """``{path: normalized change}`` of a unified diff (``{}`` for text that is not one)."""
    out: dict[str, str] = {}
    for f in split_files(patch):
        if f.binary:
            continue
        header = f"rename from {f.source} to {f.target}" if f.is_rename else ""
        path = f.source if f.is_rename else f.path
        body = "\n".join(h.text().strip() for h in f.hunks)
        out[path or ""] = (header + "\n" + body).strip()
    return out


def file_similarities(predicted: str, oracle: str) -> dict[str, float]:
    """Similarity in [0, 1] for each file of the oracle patch."""
    pred, gold = normalized_files(predicted), normalized_files(oracle)
    scores = {}
    for path, gold_change in gold.items():
        pred_change = pred.get(path, "")
        if not pred_change or not gold_change:
            scores[path] = 0.0  # an empty change never earns credit
        else:
            scores[path] = difflib.SequenceMatcher(
                None, pred_change, gold_change, autojunk=False
            ).ratio()
    return scores


def mean_similarity(predicted: str, oracle: str) -> float | None:
    """The mean over oracle files; None when the oracle patch has no file."""
    scores = file_similarities(predicted, oracle)
    return sum(scores.values()) / len(scores) if scores else None
