"""The demo's outputs: report.json, loss.png and a short summary.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cwm.train.metrics import read_metrics
from cwm.train.plot import plot_curves


def write_report(out: Path, report: dict[str, Any]) -> dict[str, Path]:
    paths = {
        "report": out / "report.json",
        "plot": out / "loss.png",
        "summary": out / "summary.md",
        "example": out / "example.py",
    }
    paths["report"].write_text(json.dumps(report, indent=2) + "\n")
    paths["example"].write_text(EXAMPLE)  # what summary.md's `cwm debug` command steps through
    steps = [r for r in read_metrics(out / "run") if "loss" in r]
    loss = report["heldout_loss"]
    probe = report["exact_match_over_time"]
    plot_curves(
        steps,
        [],
        paths["plot"],
        title="cwm demo: a small model on traces of the standard library",
        baselines={
            "held-out calls: loss untrained": loss["untrained"],
            "held-out calls: loss trained": loss["trained"],
        },
        scores=(
            f"exact match, {probe['frames']} held-out frames",
            [(p["step"], p["exact_match"]) for p in probe["points"]],
        ),
    )
    paths["summary"].write_text(summary(report, out))
    return paths


#: a short function like the traced ones, for the `cwm debug` command in summary.md
EXAMPLE = """def running_total(values):
    total = 0
    for v in values:
        total += v
    return total
"""
EXAMPLE_CALL = "running_total([3, 1, 4])"


def summary(report: dict[str, Any], out: Path = Path(".")) -> str:
    em = report["next_frame_exact_match"]
    train, data, t = report["training"], report["dataset"], report["timings_s"]
    beats = em["trained"] > max(em["untrained"], em["copy_previous"])
    lines = [
        "# cwm demo",
        "",
        f"Traced {sum(v or 0 for v in data['traces'].values()):,} calls of {data['functions']:,} "
        f"standard-library functions in {t['data_build']:.0f} s.",
        f"Trained the demo model for {train['steps']} steps ({train['tokens']:,} tokens, "
        f"{train['tokens_per_s']:,.0f} tokens/s) in {t['train']:.0f} s.",
        "",
        "Next-frame prediction, teacher-forced, greedy:",
        "",
        *_table("held-out calls (functions seen through other calls)", report),
        "",
        *_table("held-out functions (never seen)", report["unseen_functions"]),
        "",
        (
            "On held-out calls the trained model beats both baselines."
            if beats
            else "The trained model does NOT beat both baselines on held-out calls: "
            "give it a longer --time-budget."
        ),
        "",
        f"Total {t['total']:.0f} s (budget {report['time_budget_s']:.0f} s).",
        "",
        *_meaning(report, out),
    ]
    for ex in report.get("examples", []):
        lines += [
            "",
            f"Trace `{ex['trace']}`, a held-out frame:",
            "",
            "```",
            f"true:      {ex['true']}",
            f"predicted: {ex['predicted']}",
            "```",
        ]
    return "\n".join(lines) + "\n"


def _table(title: str, scores: dict[str, Any]) -> list[str]:
    em, acc, loss = (
        scores["next_frame_exact_match"],
        scores["token_accuracy"],
        scores["heldout_loss"],
    )
    n = scores["heldout"]
    parts = scores["state_exact_match"], scores["line_exact_match"]
    names = {"trained": "trained", "untrained": "untrained", "copy_previous": "copy previous frame"}
    rows = [
        f"| {name} | {em[key]:.1%} | {parts[0][key]:.1%} | {parts[1][key]:.1%} | "
        f"{acc[key]:.1%} | {f'{loss[key]:.3f}' if key in loss else ''} |"
        for key, name in names.items()
    ]
    return [
        f"{title}: {n['frames']:,} frames of {n['traces']} traces",
        "",
        "| model | exact match | state right | line right | token accuracy | loss |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
    ]


def _meaning(report: dict[str, Any], out: Path) -> list[str]:
    """One sentence on what the numbers mean, and what to try next."""
    probe = report.get("exact_match_over_time", {}).get("points", [])
    first = next((p for p in probe if p["exact_match"] > 0), None)
    when = (
        f" (it first got a probed frame right after {first['train_seconds']:.0f} s of training, "
        f"step {first['step']}: see loss.png)"
        if first
        else ""
    )
    return [
        "Exact match is the share of held-out next frames (the line and every local value) "
        "the model writes token for token given the true trace so far; above the copy-previous "
        f"baseline it means the model learnt to follow code on inputs it never saw{when}. "
        "Line right counts the frames whose source line it wrote right (found in the source "
        "and copied), state right those whose event, local values and returned value it "
        "wrote right (what running the code gives). "
        "Step through a trace with the trained model:",
        "",
        "```",
        f'cwm debug {out / "example.py"} --call "{EXAMPLE_CALL}" '
        f"--checkpoint {report['training']['checkpoint']} --steps 10",
        "```",
        "",
        "or give it a longer `--time-budget`.",
    ]
