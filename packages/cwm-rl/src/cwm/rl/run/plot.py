"""PNG of an RL run: training reward per task (a rolling mean over the raw steps), the
held-out reward, staleness (max and mean), throughput."""

from __future__ import annotations

from pathlib import Path

from cwm.core.errors import CwmError
from cwm.train.metrics import read_metrics
from cwm.train.plot import save_figure


def plot_run(run_dir: Path | str, out: Path | str) -> Path:
    records = read_metrics(run_dir)
    steps = [r for r in records if "reward" in r]
    heldout = [r for r in records if "heldout_reward" in r]
    if not steps:
        raise CwmError(f"{run_dir}: no RL steps in metrics.jsonl; is it a `cwm rl` run directory?")
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    x = [r["step"] for r in steps]
    panels = 4 if heldout else 3
    fig, axes = plt.subplots(
        panels,
        1,
        figsize=(8, 2.5 * panels + 1),
        sharex=True,
        gridspec_kw={"height_ratios": [2] * (panels - 2) + [1, 1]},
    )
    ax_r, ax_s, ax_t = axes[0], axes[-2], axes[-1]
    window = max(1, len(steps) // 10)  # a step's reward is a few groups: noisy
    keys = [*sorted({k for r in steps for k in r if k.startswith("reward/")}), "reward"]
    for i, key in enumerate(keys):
        color = "black" if key == "reward" else f"C{i}"
        name = "all tasks" if key == "reward" else key.removeprefix("reward/")
        values = [r.get(key) for r in steps]
        ax_r.plot(x, values, color=color, alpha=0.2, linewidth=1)
        ax_r.plot(x, rolling_mean(values, window), color=color, linewidth=2, label=name)
    ax_r.set_ylabel(f"train reward\n(mean of {window} steps)")
    ax_r.legend(loc="upper left")
    ax_r.set_title(Path(run_dir).name)
    if heldout:  # the held-out task's score, step 0 being the starting weights
        ax_h = axes[1]
        hx, hy = [r["step"] for r in heldout], [r["heldout_reward"] for r in heldout]
        ax_h.plot(hx, hy, "o-", color="tab:red")
        for step, value in zip(hx, hy, strict=True):
            ax_h.annotate(f"{value:.3f}", (step, value), textcoords="offset points", xytext=(0, 6))
        ax_h.set_ylabel("held-out reward")
        ax_h.margins(y=0.25)
    mean_lag = [
        sum(int(k) * v for k, v in r["staleness"].items()) / max(sum(r["staleness"].values()), 1)
        for r in steps
    ]
    ax_s.plot(x, [r["staleness_max"] for r in steps], label="max")
    ax_s.plot(x, mean_lag, label="mean")
    ax_s.set_ylabel("staleness (steps)")
    ax_s.legend(loc="upper left")
    ax_t.plot(x, [r["generated_tokens_per_s"] for r in steps], label="generated tokens/s")
    ax_t.plot(x, [r["tokens_per_s"] for r in steps], label="trained tokens/s")
    ax_t.set_ylabel("tokens/s")
    ax_t.set_xlabel("optimizer step")
    ax_t.legend(loc="upper left")
    for ax in axes:
        ax.grid(alpha=0.3)
    return save_figure(fig, out)


def rolling_mean(values: list[float | None], window: int) -> list[float | None]:
    """The mean of each value and the ``window - 1`` before it, skipping missing ones
    (a step that drew no group of a task)."""
    out: list[float | None] = []
    for i in range(len(values)):
        seen = [v for v in values[max(0, i - window + 1) : i + 1] if v is not None]
        out.append(sum(seen) / len(seen) if seen else None)
    return out
