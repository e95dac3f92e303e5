"""ForagerAgent's pipeline: repository -> image -> validated tasks -> trajectories, resumable.

Everything lands in the output directory, appended one record at a time, so an
interrupted run picks up where it stopped:

- ``tasks.jsonl``: validated `Task`s (their oracle patch resolves them in a fresh sandbox);
- ``tried.txt``: every mutation tried, with why it was dropped or kept;
- ``trajectories.jsonl``: one `Trajectory` per episode, solved or not, with its grade
  (``tests``) and ``reward``; near-duplicates of an earlier episode are not written;
- ``summary.json``: counts and rates of the last run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
from tqdm import tqdm

from cwm.core.config import AtLeast0, AtLeast1, Config, Fraction
from cwm.core.errors import CwmError
from cwm.core.io import Appender, read_records
from cwm.core.schemas import Task, Trajectory
from cwm.data.envs.grading import grade
from cwm.data.envs.swe import SWEConfig, SWEEnv
from cwm.data.forager import mutate_fix
from cwm.data.forager.agent import RewardFn, run_episode
from cwm.data.forager.dedupe import Deduper
from cwm.data.forager.policies import make_policy
from cwm.data.sandbox import open_backend, prepare_repo
from cwm.data.sandbox.base import SandboxBackend
from cwm.data.sandbox.repo import DEFAULT_TEST_DEPS


class ForageConfig(Config, frozen=True, kw_only=True):
    repo: str  # a directory, or an sdist: "toolz" / "toolz==1.2.0"
    out: str
    tasks: AtLeast1 = 4
    policy: str = "oracle"  # or "openai:BASE_URL"
    model: str | None = None  # for openai policies; default: the server's first model
    sandbox: str = "auto"  # docker when an engine runs, else local
    attempts: AtLeast1 = 1  # episodes per task
    seed: int = 0
    mutators: list[str] = []  # default: every installed mutator
    swebench: str | None = None  # JSONL of SWE-bench instances: issue-fix tasks instead
    test_deps: tuple[str, ...] = DEFAULT_TEST_DEPS
    max_candidates: AtLeast0 = 0  # mutations to try before giving up; 0: 25 per task
    dedupe_threshold: Fraction = 0.9
    reward: str | None = "swe"  # a reward plugin (cwm-rl); None records no reward
    reward_options: dict[str, Any] = {}
    env: SWEConfig = SWEConfig()


class Forager:
    def __init__(self, cfg: ForageConfig, *, progress: bool = True):
        self.cfg, self.progress = cfg, progress
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.reward = _reward(cfg)
        self.policy_options = (
            {"model": cfg.model} if cfg.policy.startswith("openai:") and cfg.model else {}
        )
        make_policy(cfg.policy, **self.policy_options)  # a bad --policy fails before any work
        self.counts: Counter[str] = Counter()
        self.repo = prepare_repo(cfg.repo, test_deps=tuple(cfg.test_deps))
        self.backend: SandboxBackend = open_backend(cfg.sandbox)
        self.image = self.backend.build_repo_image(self.repo)

    # --- tasks -------------------------------------------------------------------------

    def load_tasks(self) -> list[Task]:
        path = self.out / "tasks.jsonl"
        if not path.exists():
            return []
        # the image is rebuilt per machine and backend: point old tasks at this run's
        return [msgspec.structs.replace(t, image=self.image) for t in read_records(path, Task)]

    def validate(self, task: Task) -> str | None:
        """None when the oracle patch resolves the task in a fresh sandbox, else why not."""
        outcome = grade(
            task,
            task.oracle_patch,
            lambda: self.backend.start(self.image),
            timeout=self.cfg.env.test_timeout,
        )
        return (
            None if outcome.resolved else f"the oracle patch does not resolve it: {outcome.error}"
        )

    def mutate_fix_tasks(self, tasks: list[Task]) -> list[Task]:
        cfg = self.cfg
        tried_path = self.out / "tried.txt"
        tried = (
            {line.split("\t", 1)[0] for line in tried_path.read_text().splitlines()}
            if tried_path.exists()
            else set()
        )
        pool = mutate_fix.candidates(self.repo.source, mutators=cfg.mutators or None, seed=cfg.seed)
        budget = (cfg.max_candidates or 25 * cfg.tasks) - len(tried)
        if len(tasks) >= cfg.tasks or budget <= 0:
            return tasks
        bar = tqdm(
            total=cfg.tasks, initial=len(tasks), desc="validated tasks", disable=not self.progress
        )
        with (
            self.backend.start(self.image) as box,
            open(tried_path, "a") as log,
            Appender(self.out / "tasks.jsonl") as sink,
        ):
            base = mutate_fix.baseline(box, timeout=cfg.env.test_timeout)
            if len(base.passing) < 2:
                raise CwmError(
                    f"{self.repo.name}: fewer than 2 tests pass before any mutation; "
                    "check --test-deps and that the suite runs offline"
                )
            timeout = max(30.0, 5 * base.seconds)
            for cand, verdict in mutate_fix.synthesize(
                box, self.repo, self.image, base, pool, skip=tried, timeout=timeout
            ):
                budget -= 1
                self.counts["candidates"] += 1
                if isinstance(verdict, Task) and (reason := self.validate(verdict)) is None:
                    tasks.append(verdict)
                    sink.write(verdict)
                    bar.update(1)
                    reason = "kept"
                elif isinstance(verdict, str):
                    reason = verdict
                self.counts[reason if reason == "kept" else "dropped"] += 1
                log.write(
                    f"{cand.id}\t{cand.mutation.mutator}\t{cand.path}:{cand.mutation.line}\t{reason}\n"
                )
                log.flush()
                if len(tasks) >= cfg.tasks or budget <= 0:
                    break
        bar.close()
        if len(tasks) < cfg.tasks:
            print(
                f"cwm forage: only {len(tasks)} of {cfg.tasks} tasks after trying every allowed "
                "mutation; raise --max-candidates or use another repository"
            )
        return tasks

    def issue_fix_tasks(self, tasks: list[Task]) -> list[Task]:
        from cwm.data.forager.issue_fix import read_swebench

        have = {t.id for t in tasks}
        with Appender(self.out / "tasks.jsonl") as sink:
            for task in read_swebench(
                self.cfg.swebench or "", image=self.image, repo=self.repo.name
            ):
                if len(tasks) >= self.cfg.tasks:
                    break
                if task.id in have:
                    continue
                self.counts["candidates"] += 1
                if (reason := self.validate(task)) is not None:
                    print(f"cwm forage: skipping {task.id}: {reason}")
                    continue
                tasks.append(task)
                sink.write(task)
                self.counts["kept"] += 1
        return tasks

    # --- episodes ----------------------------------------------------------------------

    def run_episodes(self, tasks: list[Task]) -> None:
        cfg = self.cfg
        path = self.out / "trajectories.jsonl"
        done: Counter[str] = Counter()
        deduper = Deduper(cfg.dedupe_threshold)
        for old in read_records(path, Trajectory, on_error="skip") if path.exists() else []:
            done[old.task.id] += 1
            deduper.add(old)
        todo = [(t, k) for t in tasks for k in range(done[t.id], cfg.attempts)]
        with Appender(path) as sink:
            for task, _ in tqdm(todo, desc="episodes", disable=not self.progress):
                env = SWEEnv(task, self.backend, cfg.env)
                trajectory = run_episode(
                    env, make_policy(cfg.policy, **self.policy_options), reward=self.reward
                )
                self.counts["episodes"] += 1
                self.counts["resolved"] += bool(trajectory.tests and trajectory.tests.resolved)
                if not deduper.add(trajectory):
                    self.counts["near-duplicates"] += 1
                    continue
                sink.write(trajectory)

    def run(self) -> dict[str, Any]:
        start = time.monotonic()
        tasks = self.load_tasks()[: self.cfg.tasks]
        synth_start = time.monotonic()
        tasks = self.issue_fix_tasks(tasks) if self.cfg.swebench else self.mutate_fix_tasks(tasks)
        synth_seconds = time.monotonic() - synth_start
        self.run_episodes(tasks)
        summary = {
            "repo": f"{self.repo.name}=={self.repo.version}",
            "image": self.image,
            "sandbox": self.backend.name,
            "tasks": len(tasks),
            **self.counts,
            "synthesis_seconds": round(synth_seconds, 2),
            "validated_tasks_per_minute": round(60 * self.counts["kept"] / synth_seconds, 2)
            if self.counts["kept"]
            else 0.0,
            "seconds": round(time.monotonic() - start, 2),
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def _reward(cfg: ForageConfig) -> RewardFn | None:
    if not cfg.reward:
        return None
    from cwm.core.plugins import registry

    return registry("reward").create(cfg.reward, **cfg.reward_options)


def forage(cfg: ForageConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run the whole pipeline; returns the summary (also written to ``OUT/summary.json``)."""
    return Forager(cfg, progress=progress).run()
