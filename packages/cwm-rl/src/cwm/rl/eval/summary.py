"""``summary.json`` and ``summary.md`` from the samples of a run.

Every mean is over rows (each row's samples averaged first), with its standard
error over rows. ``score`` is the headline metric; a sample counts as correct
for pass@k and majority@k when its score is 1. majority@k votes on the outcome
``answer`` with the environment's own notion of "the same answer" when it has one
(``math`` asks math-verify), else exact text.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from cwm.rl.eval.metrics import mean_stderr, pass_at_k
from cwm.rl.eval.samples import EvalSample
from cwm.rl.eval.voting import majority_index

#: which of a row's answers majority voting picks (None: nobody answered), as `MathEnv.majority`
Vote = Callable[[Sequence[str | None]], int | None]


def _by_row(samples: list[EvalSample]) -> dict[str, list[EvalSample]]:
    rows: dict[str, list[EvalSample]] = defaultdict(list)
    for s in samples:
        rows[s.row_id].append(s)
    return rows


def _metric(rows: dict[str, list[EvalSample]], value: Any) -> dict[str, float] | None:
    per_row = []
    for samples in rows.values():
        values = [v for s in samples if (v := value(s)) is not None]
        if values:
            per_row.append(sum(values) / len(values))
    if not per_row:
        return None
    mean, stderr = mean_stderr(per_row)
    return {"mean": mean, "stderr": stderr, "rows": len(per_row)}


def _outcome(key: str) -> Any:
    def value(s: EvalSample) -> float | None:
        v = s.outcomes.get(key)
        return float(v) if isinstance(v, bool | int | float) else None

    return value


def _majority_correct(samples: list[EvalSample], vote: Vote) -> float:
    answers = [str(s.outcomes.get("answer") or "") or None for s in samples]
    winner = vote(answers)
    return float(winner is not None and samples[winner].score >= 1.0)


def summarize(
    samples: list[EvalSample],
    *,
    task: str,
    metric: str,
    majority: bool,
    policy: str,
    vote: Vote | None = None,
) -> dict[str, Any]:
    rows = _by_row(samples)
    k_max = min((len(s) for s in rows.values()), default=0)
    metrics: dict[str, Any] = {
        "score": _metric(rows, lambda s: s.score),
        "reward": _metric(rows, lambda s: s.reward),
    }
    keys = sorted({k for s in samples for k, v in s.outcomes.items() if not isinstance(v, str)})
    for key in keys:
        metrics[key] = _metric(rows, _outcome(key))
    for k in range(1, k_max + 1):
        per_row = [pass_at_k(len(ss), sum(s.score >= 1.0 for s in ss), k) for ss in rows.values()]
        mean, stderr = mean_stderr(per_row)
        metrics[f"pass@{k}"] = {"mean": mean, "stderr": stderr, "rows": len(per_row)}
    if majority and k_max:
        votes = [_majority_correct(ss, vote or majority_index) for ss in rows.values()]
        mean, stderr = mean_stderr(votes)
        metrics[f"majority@{k_max}"] = {"mean": mean, "stderr": stderr, "rows": len(votes)}
    score = metrics["score"] or {"mean": 0.0, "stderr": 0.0}
    return {
        "task": task,
        "policy": policy,
        "headline": metric,
        "score": score["mean"],
        "score_stderr": score["stderr"],
        "rows": len(rows),
        "samples": len(samples),
        "samples_per_row": k_max,
        "finish": dict(Counter(s.finish for s in samples).most_common()),
        "metrics": {k: v for k, v in metrics.items() if v is not None},
    }


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# {summary['task']}: {summary['score']:.3f} ± {summary['score_stderr']:.3f}",
        "",
        f"Policy `{summary['policy']}`; headline metric `{summary['headline']}`; "
        f"{summary['rows']} rows, {summary['samples']} samples "
        f"({summary['samples_per_row']} per row).",
        "",
        "| metric | mean | stderr | rows |",
        "| --- | --- | --- | --- |",
    ]
    for name, m in summary["metrics"].items():
        lines.append(f"| {name} | {m['mean']:.4f} | {m['stderr']:.4f} | {m['rows']} |")
    lines += [
        "",
        "Episodes ended by: " + ", ".join(f"{k} {v}" for k, v in summary["finish"].items()),
    ]
    return "\n".join(lines) + "\n"
