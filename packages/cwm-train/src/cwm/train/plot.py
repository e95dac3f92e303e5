"""PNG of a run's curves: training and held-out loss, learning rate, throughput."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cwm.core.errors import CwmError
from cwm.train.metrics import read_metrics


def plot_run(run_dir: Path | str, out: Path | str, *, title: str | None = None) -> Path:
    records = read_metrics(run_dir)
    steps = [r for r in records if "loss" in r]
    if not steps:
        raise CwmError(
            f"{run_dir}: no training steps in metrics.jsonl; is it a `cwm train` run directory?"
        )
    evals = [r for r in records if r.get("eval_loss") is not None]
    return plot_curves(steps, evals, out, title=title or Path(run_dir).name)


def plot_curves(
    steps: list[dict[str, Any]],
    evals: list[dict[str, Any]],
    out: Path | str,
    *,
    title: str = "",
    baselines: dict[str, float] | None = None,
    scores: tuple[str, list[tuple[int, float]]] | None = None,
) -> Path:
    """Loss (with a moving average and held-out points), learning rate and tokens/s.

    ``scores``: a label and (step, value in 0..1) points, drawn in percent on a second
    axis of the loss panel (e.g. exact match during training)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    x = [r["step"] for r in steps]
    loss = [r["loss"] for r in steps]
    fig, (ax_loss, ax_lr, ax_tps) = plt.subplots(
        3, 1, figsize=(8, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]}
    )
    ax_loss.plot(x, loss, color="tab:blue", alpha=0.35, linewidth=1, label="train loss")
    ax_loss.plot(x, _smooth(loss), color="tab:blue", linewidth=2, label="train loss (moving avg)")
    if evals:
        ax_loss.plot(
            [r["step"] for r in evals],
            [r["eval_loss"] for r in evals],
            "o-",
            color="tab:orange",
            label="held-out loss",
        )
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax_loss.axhline(value, linestyle="--", color=f"C{i + 3}", linewidth=1, label=name)
    ax_loss.set_ylabel("loss (nats/token)")
    handles, labels = ax_loss.get_legend_handles_labels()
    if scores:
        ax_score = ax_loss.twinx()
        label, points = scores
        ax_score.plot(
            [p[0] for p in points], [100 * p[1] for p in points], "s-", color="black", label=label
        )
        ax_score.set_ylabel(f"{label} (%)")
        ax_score.set_ylim(bottom=0)
        more = ax_score.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax_loss.legend(handles, labels, loc="upper right")
    ax_loss.grid(alpha=0.3)
    ax_loss.set_title(title)
    ax_lr.plot(x, [r["lr"] for r in steps], color="tab:green")
    ax_lr.set_ylabel("learning rate")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax_lr.grid(alpha=0.3)
    ax_tps.plot(x, [r["tokens_per_s"] for r in steps], color="tab:purple", alpha=0.6)
    ax_tps.set_ylabel("tokens/s")
    ax_tps.set_xlabel("step")
    ax_tps.grid(alpha=0.3)
    return save_figure(fig, out)


def save_figure(fig: Any, out: Path | str) -> Path:
    """Lay out ``fig``, write it to ``out`` (a PNG; parent folders made) and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _smooth(values: list[float], window: int = 0) -> list[float]:
    window = window or max(1, len(values) // 20)
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out
