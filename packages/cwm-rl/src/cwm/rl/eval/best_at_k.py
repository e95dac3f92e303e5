"""Test-time scaling for SWE, as CWM's best@k: choose one of K candidate patches with K
generated reproduction tests.

1. Keep the candidates that apply and pass the task's existing tests (its PASS_TO_PASS).
2. Keep the generated tests that reproduce the bug (they fail on the buggy tree); group
   identical ones (normalized diffs) and take the 5 largest groups: the top-5 majority tests.
3. Rank kept candidates by how many of those tests pass with them; break ties by majority
   (how many candidates wrote the same normalized patch), then by fewest tokens.

Every test run happens in a fresh sandbox of the task's image. `best_at_k` also grades
each distinct candidate with the hidden tests, to report pass@1 (the mean over the K
candidates), majority@K (the most common patch) and best@K (the ranking's choice).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import msgspec
from tqdm import tqdm

from cwm.core.envs import Rollout
from cwm.core.schemas import Task
from cwm.data.envs.grading import grade
from cwm.data.sandbox.base import Sandbox
from cwm.rl.envs.pytest_runs import changed_test_files, pytest_passes
from cwm.rl.eval.metrics import mean_stderr
from cwm.rl.eval.voting import vote_classes
from cwm.rl.rewards.similarity import normalized_files

TOP_TESTS = 5


class Candidate(msgspec.Struct, frozen=True):
    patch: str
    tokens: int = 0  # what it cost to write (the rollout's action tokens)


class Scaling(msgspec.Struct, frozen=True, kw_only=True):
    """One task's choice and grades; indices point into the candidates given."""

    chosen: int | None  # best@K's pick
    majority: int | None  # the first candidate of the largest group of identical patches
    resolved: list[bool]  # per candidate: the hidden tests pass
    kept: list[bool]  # per candidate: applies and passes the existing tests
    tests: list[int]  # indices of the top majority tests (one per group), most votes first
    scores: list[int]  # per candidate: top tests passed (0 for candidates not kept)

    @property
    def pass_at_1(self) -> float:
        return sum(self.resolved) / len(self.resolved) if self.resolved else 0.0

    @property
    def majority_at_k(self) -> bool:
        return self.majority is not None and self.resolved[self.majority]

    @property
    def best_at_k(self) -> bool:
        return self.chosen is not None and self.resolved[self.chosen]


def normalized(patch: str) -> str:
    """A patch's change per file without runs of spaces or hunk headers' function names, so
    candidates that wrote the same change compare equal."""
    files = sorted(normalized_files(patch).items())
    text = "\n".join(f"{path}\n{change}" for path, change in files)
    return "\n".join(_squeezed(line) for line in text.splitlines())


def _squeezed(line: str) -> str:
    """The line's diff marker and indentation kept, its other runs of spaces made one; a hunk
    header without the function name git writes after it."""
    if line.startswith("@@"):
        return line[: line.find("@@", 2) + 2] if line.find("@@", 2) > 0 else line
    body = line.lstrip("+- ")
    return line[: len(line) - len(body)] + " ".join(body.split())


def _firsts(keys: Sequence[str]) -> dict[str, int]:
    """Each non-empty key's first index: the one copy of it that runs."""
    out: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key:
            out.setdefault(key, i)
    return out


def rank(
    candidates: Sequence[Candidate], kept: Sequence[bool], scores: Sequence[int]
) -> int | None:
    """The chosen candidate: most top tests passed, then most votes, then fewest tokens."""
    keys = [normalized(c.patch) for c in candidates]
    votes = {key: keys.count(key) for key in keys}
    order = [i for i in range(len(candidates)) if kept[i]]
    order.sort(key=lambda i: (-scores[i], -votes[keys[i]], candidates[i].tokens, i))
    return order[0] if order else None


def best_at_k(
    task: Task,
    candidates: Sequence[Candidate],
    tests: Sequence[str],
    start: Callable[[], Sandbox],
    *,
    top: int = TOP_TESTS,
    timeout: float = 300.0,
    workers: int = 2,
    progress: bool = False,
) -> Scaling:
    """Choose among ``candidates`` with the generated test patches ``tests`` (see above);
    each distinct patch and test runs once (``progress``: a bar of the sandbox runs)."""
    keys = [normalized(c.patch) for c in candidates]
    files = [changed_test_files(t) if t.strip() else ([], "empty") for t in tests]
    test_keys = [normalized(t) if why is None else "" for t, (_, why) in zip(tests, files)]
    patches, generated = _firsts(keys), _firsts(test_keys)
    bar = tqdm(desc=f"best@k {task.id}", unit="run", total=0, disable=not progress)
    with ThreadPoolExecutor(max_workers=workers) as pool, bar:

        def submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
            bar.total += 1
            future = pool.submit(fn, *args, timeout=timeout)
            future.add_done_callback(lambda _: bar.update(1))
            return future

        def passes(i: int | None, j: int | None, paths: Sequence[str]) -> Future[Any]:
            applied = [candidates[i].patch] if i is not None else []
            applied += [tests[j]] if j is not None else []
            return submit(pytest_passes, task, applied, paths, start)

        existing = list(task.pass_to_pass)
        ok = {k: passes(i, None, existing) for k, i in patches.items() if existing}
        graded = {k: submit(grade, task, candidates[i].patch, start) for k, i in patches.items()}
        before = {k: passes(None, j, files[j][0]) for k, j in generated.items()}
        reproducing = [k if k and before[k].result() is False else None for k in test_keys]
        top_tests = [members[0] for members in vote_classes(reproducing)[:top]]
        kept_keys = {k for k in patches if not existing or ok[k].result() is True}
        after = {(k, j): passes(patches[k], j, files[j][0]) for k in kept_keys for j in top_tests}
        score_of = {k: sum(after[k, j].result() is True for j in top_tests) for k in kept_keys}
        resolved_of = {k: graded[k].result().resolved for k in patches}
    kept = [k in kept_keys for k in keys]
    scores = [score_of.get(k, 0) for k in keys]
    majority = vote_classes([k or None for k in keys])
    return Scaling(
        chosen=rank(candidates, kept, scores),
        majority=majority[0][0] if majority else None,
        resolved=[resolved_of.get(k, False) for k in keys],
        kept=kept,
        tests=top_tests,
        scores=scores,
    )


def candidates_of(rollouts: Sequence[Rollout]) -> list[Candidate]:
    """``swe`` rollouts as candidates: the submitted patch and the action tokens spent."""
    return [
        Candidate(
            patch=str(r.transitions[-1].info.get("patch") or "") if r.transitions else "",
            tokens=sum(len(a.tokens) for a in r.actions),
        )
        for r in rollouts
    ]


def generated_tests_of(rollouts: Sequence[Rollout]) -> list[str]:
    """``swe-testgen`` rollouts as generated test patches."""
    return [
        str(r.transitions[-1].info.get("test") or "") if r.transitions else "" for r in rollouts
    ]


def summarize(results: Sequence[Scaling]) -> dict[str, dict[str, float]]:
    """pass@1, majority@K and best@K over tasks: each a mean with its standard error."""

    def metric(values: list[float]) -> dict[str, float]:
        mean, stderr = mean_stderr(values)
        return {"mean": mean, "stderr": stderr}

    return {
        "pass@1": metric([r.pass_at_1 for r in results]),
        "majority@K": metric([float(r.majority_at_k) for r in results]),
        "best@K": metric([float(r.best_at_k) for r in results]),
    }
