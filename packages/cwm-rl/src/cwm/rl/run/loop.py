"""The RL run: actors and the learner joined by the lag schedule, checkpoints, metrics.

    summary = RLRun(load_rl_config("rl-tiny.toml")).run()

Embedded mode (one process): the actor's engine holds its own copy of the weights and
the learner publishes each version into it with an in-place copy. While the learner
trains, the actor generates freely (``overlap = "free"``, bounded by ``max_lag``), or
runs exactly ``overlap_ticks`` engine steps (``overlap = "ticks"``): a deterministic
interleaving of engine steps and optimizer steps (`cwm.rl.run.schedule`), so a run is a
function of its config: ``max_lag = 0`` reproduces ``mode = "sync"`` bit for bit, and a
run killed and resumed ends with the parameters of one never stopped.

A checkpoint (cwm-train's, atomic) holds the model, the optimizer and the RL state: the
mixture's generator and cursors, the buffer of finished groups and the specs of the
groups in flight. Saving restarts the groups in flight (in the run that goes on as in a
resumed one), so no prompt is lost or repeated and both follow the same schedule.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import zlib
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from cwm.core.config import to_dict
from cwm.core.tokenizer import Tokenizer
from cwm.rl.run import schedule
from cwm.rl.run.actor import Actor
from cwm.rl.run.config import RLConfig
from cwm.rl.run.heldout import heldout_reward
from cwm.rl.run.learner import Learner, build_policy
from cwm.rl.run.metrics import (
    batch_metrics,
    generation_rates,
    idle_fractions,
    trainer_idle_frac,
)
from cwm.rl.run.mixture import Mixture
from cwm.rl.run.samples import EpisodeSpec, Group, decode_groups, decode_specs, encode
from cwm.rl.run.servers import ServerPool
from cwm.rl.run.shaping import shape
from cwm.rl.run.tasks import build_tasks
from cwm.serve.engine import EngineConfig, LLMEngine
from cwm.train.checkpoint import Checkpointer
from cwm.train.metrics import MetricsLog


def param_hash(model: torch.nn.Module) -> str:
    """sha256 of every parameter's bytes, in name order (equal hashes: equal weights)."""
    return weights_hash(model.state_dict())


def weights_hash(state: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name, t in sorted(state.items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def fix_numerics(cfg: RLConfig) -> None:
    """Seed torch and fix its CPU threads: a run's numbers depend on its config alone,
    not on the process it runs in (a test runner, `cwm rl`, a resumed run)."""
    torch.manual_seed(cfg.seed)
    if cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)


def build_engine(
    cfg: RLConfig, model: torch.nn.Module, version: int, *, prefix_caching: bool = False
) -> LLMEngine:
    """The actor's engine over its own copy of ``model`` (the in-process weight copy).
    Without ``prefix_caching`` (the actor's) the schedule is batch-independent: every
    prompt computes its own KV."""
    e = cfg.engine
    config = EngineConfig(
        kv_cache_mib=e.kv_cache_mib,
        max_num_seqs=e.max_num_seqs,
        max_num_batched_tokens=e.max_num_batched_tokens,
        max_model_len=e.max_model_len or None,
        prefix_caching=prefix_caching,
        cuda_graphs=e.cuda_graphs,
    )
    copy_ = copy.deepcopy(model).requires_grad_(False)
    return LLMEngine(copy_, Tokenizer.for_model(copy_.config), config, policy_version=version)


class RLRun:
    def __init__(self, cfg: RLConfig, *, progress: bool | None = None, tasks: dict | None = None):
        self.cfg = cfg
        self.progress = cfg.progress if progress is None else progress
        fix_numerics(cfg)
        policy = build_policy(cfg)
        self.tasks = (
            tasks if tasks is not None else build_tasks(cfg, Tokenizer.for_model(policy.config))
        )
        self.learner = Learner(cfg, policy)
        self.mixture = Mixture(
            {n: t.rows for n, t in self.tasks.items()},
            {t.name: t.weight for t in cfg.tasks},
            cfg.seed,
        )
        self.run_dir = Path(cfg.run_dir)
        self.checkpointer = Checkpointer(self.run_dir, keep=cfg.checkpoint.keep)
        self.started = 0  # groups given a serial number (re-issues keep theirs)
        self.buffer: list[Group] = []
        self.reissue: list[EpisodeSpec] = []
        self.counters = {
            "dropped_stale": 0,
            "samples": 0,
            "generated_tokens": 0,
            "actor_busy_seconds": 0.0,
            "train_seconds": 0.0,
            "wall": 0.0,
            "publish_seconds": 0.0,
        }
        self.heldout: dict[str, float] = {}  # held-out reward by step ("0": before training)
        self.servers: list[dict[str, Any]] = []  # with servers.urls: what each one did

    # -- state ------------------------------------------------------------------------

    def _resume(self) -> None:
        latest = self.checkpointer.latest() if self.cfg.checkpoint.resume else None
        if latest is None:
            return
        state = self.checkpointer.load(latest, self.learner.model, self.learner.optimizer)
        self.learner.version = state["version"]
        self.started = state["started"]
        self.buffer = decode_groups(state["buffer"].encode())
        self.reissue = decode_specs(state["in_flight"].encode())
        self.mixture.load_state_dict(state["mixture"])
        self.counters = state["counters"]
        self.heldout = state.get("heldout", {})

    def _save(self) -> Path:
        self.reissue = self.actor.abort_all() + self.reissue  # restarted in both runs alike
        state = {
            "version": self.learner.version,
            "started": self.started,
            "buffer": encode(self.buffer).decode(),
            "in_flight": encode(self.reissue).decode(),
            "mixture": self.mixture.state_dict(),
            "counters": self.counters,
            "heldout": self.heldout,
        }
        return self.checkpointer.save(
            self.learner.version, self.learner.model, self.learner.optimizer, state
        )

    # -- the loop ---------------------------------------------------------------------

    def _new_spec(self) -> EpisodeSpec:
        task, row = self.mixture.draw()
        group = self.started
        self.started += 1
        seed = zlib.crc32(f"{self.cfg.seed}:{group}".encode()) & 0x3FFFFFFF
        return EpisodeSpec(group=group, task=task, row=row, seed=seed)

    def _issue(self, spec: EpisodeSpec) -> None:
        self.buffer += self.actor.issue(spec)

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        self._resume()
        self.actor = Actor(
            self._engine(),
            self.tasks,
            cfg.group_size,
            recompute_kv=cfg.engine.recompute_kv,
            env_workers=cfg.env_workers,
            deterministic=cfg.overlap == "ticks",
        )
        if self.run_dir:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
        first = self.learner.version
        log = MetricsLog(
            self.run_dir,
            active=True,
            resume_step=first,
            total=cfg.steps,
            start=first,
            progress=self.progress,
            logging=cfg.logging,
            config=to_dict(cfg),
        )
        if first == 0:
            self._evaluate(0, log)
        self.clock = time.perf_counter()
        self.wall0 = self.counters["wall"]
        self.mark = (self.clock, self.actor.generated_tokens, self.actor.busy_seconds)
        saved = None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="learner")
        try:
            while self.learner.version < cfg.steps:
                batch = self._next_batch()
                # the first batch is generated before anything can train, whatever the schedule
                self.counters.setdefault("warmup_seconds", time.perf_counter() - self.clock)
                record = self._train(batch)
                log.step(record, log=True)
                lags = [int(k) for k, n in record["staleness"].items() for _ in range(n)]
                log.loggers.log_histogram(record["step"], "staleness", lags)
                step = self.learner.version
                every = cfg.heldout.eval_every
                if every and step % every == 0 and step < cfg.steps:
                    self._evaluate(step, log)
                if step < cfg.steps and cfg.saves_at(step):
                    saved = self._save()
            if self.learner.version > first:
                saved = self._save()
            self._evaluate(self.learner.version, log)
        finally:
            self.actor.close()  # episodes still in flight end (finish "abort", close)
            self.pool.shutdown()
            if isinstance(self.actor.engine, ServerPool):
                self.servers = self.actor.engine.summary()
                self.actor.engine.close()
            log.close()
        return self._summary(saved)

    def _engine(self) -> LLMEngine | ServerPool:
        """The actor's engine: its own copy of the weights, or the configured servers."""
        cfg, version = self.cfg, self.learner.version
        if cfg.servers.urls:
            weights = self.learner.weights()
            return ServerPool(cfg.servers, weights, version, bucket_mb=cfg.weight_bucket_mb)
        return build_engine(cfg, self.learner.model, version)

    def _evaluate(self, step: int, log: MetricsLog) -> None:
        """The held-out reward of the learner's weights at ``step`` (once per step)."""
        if not self.cfg.heldout.task or str(step) in self.heldout:
            return
        # its own engine, which trains nothing: the frames of a call share their prompts
        engine = build_engine(self.cfg, self.learner.model, step, prefix_caching=True)
        reward = heldout_reward(self.cfg.heldout, engine, self.run_dir, step)
        self.heldout[str(step)] = reward
        log.write({"step": step, "heldout_reward": reward})

    def _next_batch(self) -> list[Group]:
        """Generate until the schedule lets the learner train; the batch it trains on."""
        cfg, b = self.cfg, self.cfg.groups_per_step
        lag = cfg.max_lag if cfg.mode == "async" else 0
        if cfg.mode == "sync":
            while self.reissue:
                self._issue(self.reissue.pop(0))
            while self.started < b * (self.learner.version + 1):
                self._issue(self._new_spec())
            while self.actor.groups:
                self.buffer += self.actor.tick()
            return schedule.take_batch(self.buffer, b)
        while True:
            while self.reissue:
                self._issue(self.reissue.pop(0))
            self._admit(schedule.waiting_lag(self.learner.version, lag))
            if not self.actor.groups and len(self.buffer) < b:
                self._admit(lag)  # groups were dropped: the batch needs more than that
            issued = [v for _, v in self.actor.in_flight()]
            if schedule.may_train(self.buffer, issued, self.learner.version, b, lag):
                batch = schedule.take_batch(self.buffer, b)
                dropped = schedule.stale(batch, self.learner.version, lag)
                self.counters["dropped_stale"] += len(dropped)
                batch = [g for g in batch if g not in dropped]
                if batch:
                    return batch
                continue
            self.buffer += self.actor.tick()

    def _admit(self, lag: int) -> None:
        # by the actor's version: groups started while the learner trains count as older
        b = self.cfg.groups_per_step
        needed = b * self.cfg.steps + self.counters["dropped_stale"]  # a dropped one: another
        while schedule.may_admit(self.started, self.actor.engine.policy_version, b, lag, needed):
            self._issue(self._new_spec())

    def _overlap(self, training: Future) -> None:
        """Generate while the learner trains: ``overlap_ticks`` engine steps, or ("free")
        until the learner is done."""
        free = self.cfg.overlap == "free"
        ticks = 0
        while (not training.done()) if free else ticks < self.cfg.overlap_ticks:
            self._admit(self.cfg.max_lag)
            if not self.actor.groups:
                break  # the lag bound holds generation back until the new version
            self.buffer += self.actor.tick()
            ticks += 1

    def _train(self, batch: list[Group]) -> dict[str, Any]:
        version = self.learner.version
        batch, shaped = shape(batch, self.cfg.shaping, version, self.cfg.steps)
        samples = [s for g in batch for s in g.samples]
        future = self.pool.submit(self.learner.train, batch)
        if self.cfg.mode == "async":  # the actor goes on with the old weights meanwhile
            self._overlap(future)
        stats = future.result()
        seconds, size = self.actor.apply(self.learner.weights(), self.learner.version)
        now = time.perf_counter()
        wall = now - self.mark[0]
        generated = self.actor.generated_tokens - self.mark[1]
        busy = self.actor.busy_seconds - self.mark[2]
        self.mark = (now, self.actor.generated_tokens, self.actor.busy_seconds)
        c = self.counters
        c["train_seconds"] += stats["train_seconds"]
        c["publish_seconds"] += seconds
        c["samples"] += len(samples)
        c["generated_tokens"] += generated
        c["actor_busy_seconds"] = c.get("actor_busy_seconds", 0.0) + busy
        c["wall"] = self.wall0 + now - self.clock
        return {
            "step": self.learner.version,
            **{k: v for k, v in stats.items() if k != "train_seconds"},
            **batch_metrics(batch, version),
            **shaped,
            "dropped_stale": c["dropped_stale"],
            "trainer_idle_frac": trainer_idle_frac(c["train_seconds"], c["wall"]),
            "publish_s": seconds,
            "publish_bytes": size,
            "step_time": wall,
            "samples_per_s": len(samples) / wall,
            **generation_rates(generated, busy, wall),
            "tokens_per_s": stats["trained_tokens"] / wall,
        }

    def _summary(self, saved: Path | None) -> dict[str, Any]:
        c = self.counters
        summary = {
            "steps": self.learner.version,
            "param_hash": param_hash(self.learner.model),
            "checkpoint": str(saved or self.checkpointer.latest() or ""),
            "samples": c["samples"],
            "dropped_stale": c["dropped_stale"],
            **idle_fractions(c["train_seconds"], c["wall"], c.get("warmup_seconds", 0.0)),
            **generation_rates(c["generated_tokens"], c.get("actor_busy_seconds", 0.0), c["wall"]),
            "publish_seconds": c["publish_seconds"],
            "wall_seconds": c["wall"],
        }
        if self.servers:
            summary["servers"] = self.servers
        if self.heldout:
            by_step = sorted(self.heldout.items(), key=lambda kv: int(kv[0]))
            summary["heldout_reward"] = {
                "task": self.cfg.heldout.task,
                "before": self.heldout.get("0"),
                "after": by_step[-1][1],
                "by_step": dict(by_step),
            }
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary
