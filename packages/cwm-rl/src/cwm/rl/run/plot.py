"""PNG of an RL run: reward per task and held out, staleness (max and mean), throughput."""

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
    fig, (ax_r, ax_s, ax_t) = plt.subplots(
        3, 1, figsize=(8, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]}
    )
    tasks = sorted({k for r in steps for k in r if k.startswith("reward/")})
    for key in tasks:
        ax_r.plot(x, [r.get(key) for r in steps], label=key.removeprefix("reward/"))
    ax_r.plot(x, [r["reward"] for r in steps], color="black", linewidth=2, label="all tasks")
    if heldout:  # the held-out task's score, step 0 being the starting weights
        ax_r.plot(
            [r["step"] for r in heldout],
            [r["heldout_reward"] for r in heldout],
            "o--",
            color="tab:red",
            label="held-out",
        )
    ax_r.set_ylabel("reward")
    ax_r.legend(loc="lower right")
    ax_r.set_title(Path(run_dir).name)
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
    for ax in (ax_r, ax_s, ax_t):
        ax.grid(alpha=0.3)
    return save_figure(fig, out)
