"""Dataset statistics (stats.json) and a picture of them (stats.png, with matplotlib)."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from cwm.core.schemas import Trace


def summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def pct(p: float) -> int:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {
        "count": len(values),
        "min": ordered[0],
        "median": statistics.median(ordered),
        "mean": round(statistics.fmean(ordered), 2),
        "p90": pct(0.9),
        "p99": pct(0.99),
        "max": ordered[-1],
    }


def split_stats(traces: list[Trace], token_lengths: list[int] | None) -> dict[str, Any]:
    functions = Counter(str(t.meta.get("function", t.entry)) for t in traces)
    modules = {
        str(t.meta.get("module") or str(t.meta.get("function", "")).rpartition(".")[0])
        for t in traces
    }
    return {
        "traces": len(traces),
        "functions": len(functions),
        "modules": len(modules),
        "outcomes": dict(Counter(t.outcome for t in traces)),
        "inputs": dict(Counter(str(t.meta.get("inputs", "?")) for t in traces)),
        "frames_per_trace": summary([len(t.frames) for t in traces]),
        "traces_per_function": summary(list(functions.values())),
        "token_length": summary(token_lengths) if token_lengths is not None else None,
    }


def plot(path: Path, frames: list[int], tokens: list[int] | None) -> bool:
    """Histograms of frames per trace and token length; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = [("frames per trace", frames)] + ([("tokens per trace", tokens)] if tokens else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4))
    for ax, (title, values) in zip([axes] if len(panels) == 1 else axes, panels):
        ax.hist(values, bins=60, log=True, color="#3572A5")
        ax.set_title(title)
        ax.set_xlabel(title.split()[0])
        ax.set_ylabel("traces (log)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
