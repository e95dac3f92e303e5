"""mutate-fix tasks: inject a bug with a mutator, keep it when the tests notice, fix = reverse diff.

1. `baseline`: run the whole test suite once; the tests that pass are the pool.
2. `candidates`: every mutation of every source module (tests, docs and setup
   files are never mutated), shuffled per mutator and interleaved so that every
   operator gets its turn.
3. `try_candidate`: apply one mutation in a sandbox and rerun the suite. It is
   kept only when at least one pooled test fails after it (FAIL_TO_PASS) and at
   least one still passes (PASS_TO_PASS).
4. The task's starting state is the mutation (``meta.setup_patch``); its oracle
   patch is the reverse diff (mutant -> original). `cwm.data.forager.forage` then grades the oracle
   patch in a fresh sandbox before accepting the task.
"""

from __future__ import annotations

import random
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from cwm.core.plugins import registry
from cwm.core.schemas import Task
from cwm.data.envs.grading import PYTEST, is_test_path
from cwm.data.envs.patches import make_diff
from cwm.data.envs.pytest_log import parse_pytest_log
from cwm.data.forager.mutators import Mutation, parses
from cwm.data.sandbox.base import Sandbox
from cwm.data.sandbox.repo import PreparedRepo

_SKIP_DIRS = {"docs", "doc", "examples", "example", "benchmark", "benchmarks", "build", "dist"}


class Baseline(msgspec.Struct, frozen=True, kw_only=True):
    passing: list[str]
    seconds: float  # how long the suite took: the base of the per-candidate timeout


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    path: str  # relative to the repository root
    mutation: Mutation

    @property
    def id(self) -> str:
        return self.mutation.key(self.path)


def baseline(box: Sandbox, *, timeout: float = 600.0) -> Baseline:
    start = time.monotonic()
    result = box.run(PYTEST, timeout=timeout)
    seconds = time.monotonic() - start
    statuses = parse_pytest_log(result.output)
    return Baseline(
        passing=sorted(t for t, s in statuses.items() if s == "passed"), seconds=seconds
    )


def source_files(root: Path) -> list[str]:
    """Python modules that may be mutated: not tests, docs, examples or packaging files."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        parts = rel.split("/")
        if rel.startswith(".") or _SKIP_DIRS & set(parts[:-1]) or is_test_path(rel):
            continue
        if parts[-1] in ("setup.py", "conftest.py", "_version.py", "version.py", "__main__.py"):
            continue
        out.append(rel)
    return out


def candidates(root: Path, *, mutators: list[str] | None = None, seed: int = 0) -> list[Candidate]:
    """All mutations of the repository, shuffled and interleaved across mutators."""
    rng = random.Random(seed)
    installed = registry("mutator")  # built-ins and third-party plugins alike
    names = mutators or installed.names()
    instances = {name: installed.create(name) for name in names}  # an unknown name fails here
    per_mutator: dict[str, list[Candidate]] = {n: [] for n in names}
    for rel in source_files(root):
        source = (root / rel).read_text(errors="replace")
        for name, mutator in instances.items():
            for m in mutator.mutations(source, checked=False):  # checked when tried
                per_mutator[name].append(Candidate(path=rel, mutation=m))
    for items in per_mutator.values():
        rng.shuffle(items)
    out: list[Candidate] = []
    queues = [q for q in per_mutator.values() if q]
    while queues:
        for q in queues:
            out.append(q.pop())
        queues = [q for q in queues if q]
    return out


def mutation_patches(root: Path, cand: Candidate) -> tuple[str, str]:
    """(the patch that injects the bug, the oracle patch that fixes it)."""
    original = (root / cand.path).read_text(errors="replace")
    mutant = cand.mutation.apply(original)
    return make_diff(cand.path, original, mutant), make_diff(cand.path, mutant, original)


def try_candidate(
    box: Sandbox, root: Path, cand: Candidate, base: Baseline, *, timeout: float
) -> tuple[list[str], list[str]] | str:
    """(FAIL_TO_PASS, PASS_TO_PASS) when the tests notice the mutation, else why it was dropped."""
    original = (root / cand.path).read_text(errors="replace")
    mutant = cand.mutation.apply(original)
    if mutant == original or not parses(mutant):
        return "the mutant does not parse"
    target = f"{box.workdir}/{cand.path}"
    box.write_file(target, mutant.encode())
    try:
        result = box.run(PYTEST, timeout=timeout)
    finally:
        box.write_file(target, original.encode())
    if result.timed_out:
        return "the tests timed out"
    statuses = parse_pytest_log(result.output)
    still = [t for t in base.passing if statuses.get(t) == "passed"]
    broken = [t for t in base.passing if statuses.get(t) != "passed"]
    if not broken:
        return "no test fails"
    if not still:
        return "no test passes"
    return broken, still


def make_task(
    repo: PreparedRepo,
    image: str,
    cand: Candidate,
    fail_to_pass: list[str],
    pass_to_pass: list[str],
) -> Task:
    shown = ", ".join(fail_to_pass[:5]) + (
        f" and {len(fail_to_pass) - 5} more" if len(fail_to_pass) > 5 else ""
    )
    rerun = " ".join(["python -m pytest", *map(shlex.quote, fail_to_pass[:5])])
    instruction = (
        f"Some tests of {repo.name} fail: {shown}. Find the bug in the library's source code "
        f"(the tests are correct) and fix it. To see the failures, run: {rerun}"
    )
    m = cand.mutation
    setup_patch, oracle_patch = mutation_patches(repo.source, cand)
    return Task(
        id=f"{repo.name}-{repo.version}-mut-{cand.id}",
        instruction=instruction,
        family="mutate-fix",
        repo=repo.name,
        image=image,
        oracle_patch=oracle_patch,
        fail_to_pass=fail_to_pass,
        pass_to_pass=pass_to_pass,
        meta={
            "setup_patch": setup_patch,
            "mutator": m.mutator,
            "file": cand.path,
            "line": m.line,
            "description": m.description,
            "source": f"{repo.name}=={repo.version}",
        },
    )


def synthesize(
    box: Sandbox,
    repo: PreparedRepo,
    image: str,
    base: Baseline,
    pool: list[Candidate],
    *,
    skip: set[str],
    timeout: float,
) -> Iterator[tuple[Candidate, Task | str]]:
    """Try candidates in order (skipping ids in ``skip``): each with its task or why it was dropped."""
    for cand in pool:
        if cand.id in skip:
            continue
        verdict = try_candidate(box, repo.source, cand, base, timeout=timeout)
        if isinstance(verdict, str):
            yield cand, verdict
            continue
        f2p, p2p = verdict
        yield cand, make_task(repo, image, cand, f2p, p2p)
