"""Scale-out under torchrun: ranks 0..L-1 are learners (``learners``), the others actors.

    torchrun --nproc-per-node 3 -m cwm.rl --config rl.toml    # 1 learner, 2 actors
    torchrun --nproc-per-node 4 -m cwm.rl --config rl.toml --set learners=2

Each actor runs its own engine and environments on its share of the rows (row i of a
task goes to actor i mod A) and its share of each step's groups (``groups_per_step``
must divide among the actors). It schedules with the same lag rules as the embedded
run (`cwm.rl.run.schedule`), the step count being the batches it has sent, and sends
each batch of finished groups to learner rank 0 point to point. Rank 0 receives one
batch from every actor and broadcasts the step's batch to the other learners; they train
together (FSDP2 over the learners' group, `cwm.rl.run.learner`), and rank 0 broadcasts
the new version over the weights group (rank 0 and the actors, `cwm.serve.engine.weight_sync`);
actors apply it between engine steps. Every actor writes the versions it applied and
its generation (`cwm.rl.run.metrics.generation_rates`, over the wall time until it sent
its last batch) to ``RUN/actor-RANK.json``.

With ``learner_tp`` > 1 consecutive learner ranks form tensor-parallel groups (cwm-train's
Megatron-style plan: heads and FFN columns split, the vocabulary sharded in the embedding
and the head); they train on the same samples, and FSDP2 shards over the other dimension.

Checkpoints are the learners' (cwm-train's, atomic, saved over the learners' group) and
hold every actor's state as it was right after it sent the batch of the step saved: the
mixture's generator and cursors, its count of started groups, its finished groups not
sent and the specs of its groups in flight. The batch carries that state to rank 0. A
resumed run loads the latest checkpoint, hands each actor its state, publishes the saved
weights as their version, and the actors re-issue the specs before drawing new rows, so
no row is lost or drawn twice. A resume needs the same number of actors.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from cwm.core.config import to_dict
from cwm.core.errors import CwmError
from cwm.core.tokenizer import Tokenizer
from cwm.rl.run import schedule
from cwm.rl.run.actor import Actor
from cwm.rl.run.config import RLConfig
from cwm.rl.run.learner import Learner, build_policy
from cwm.rl.run.loop import build_engine, fix_numerics, weights_hash
from cwm.rl.run.metrics import (
    batch_metrics,
    generation_rates,
    idle_fractions,
    trainer_idle_frac,
)
from cwm.rl.run.mixture import Mixture
from cwm.rl.run.samples import EpisodeSpec, Group, decode_groups, decode_specs, encode
from cwm.rl.run.shaping import shape
from cwm.rl.run.tasks import build_tasks
from cwm.serve.engine.weight_sync import WeightReceiver, WeightSender
from cwm.train.checkpoint import Checkpointer
from cwm.train.metrics import MetricsLog

LEARNER = 0


def run_distributed(cfg: RLConfig, *, progress: bool = True) -> dict[str, Any] | None:
    """Join torchrun's group and play this rank's role; the learner returns the summary."""
    if cfg.servers.urls:
        raise CwmError(
            "config key servers.urls: a run on cwm serve processes is one process; "
            "run cwm rl without torchrun (its actors are the servers)"
        )
    world, learners = dist.get_world_size(), cfg.learners
    actors = world - learners
    if actors < 1 or cfg.groups_per_step % actors:
        raise CwmError(
            f"{world} processes, {learners} learners: {actors} actors must divide "
            f"groups_per_step={cfg.groups_per_step}; set groups_per_step, learners or "
            "--nproc-per-node"
        )
    fix_numerics(cfg)
    # every rank joins the creation of every group (new_group is collective)
    learner_group = dist.new_group(list(range(learners)), backend="gloo")
    weights_group = dist.new_group([LEARNER, *range(learners, world)], backend="gloo")
    rank = dist.get_rank()
    if rank < learners:
        return _learner(cfg, weights_group, learner_group, actors, progress)
    _actor(cfg, weights_group, actors)
    return None


def _send(groups: list[Group], state: dict | None, dst: int, step: int) -> list[dist.Work]:
    """The step's batch of an actor, and its state after sending it when the step is saved."""
    body, extra = encode(groups), json.dumps(state).encode() if state is not None else b""
    data = torch.frombuffer(bytearray(body + extra), dtype=torch.uint8)
    return [
        dist.isend(torch.tensor([len(body), len(extra)]), dst, tag=2 * step),
        dist.isend(data, dst, tag=2 * step + 1),
    ]


def _recv(src: int, step: int) -> tuple[list[Group], dict | None]:
    n = torch.zeros(2, dtype=torch.long)
    dist.recv(n, src, tag=2 * step)
    data = torch.empty(int(n.sum()), dtype=torch.uint8)
    dist.recv(data, src, tag=2 * step + 1)
    raw, cut = data.numpy().tobytes(), int(n[0])
    return decode_groups(raw[:cut]), json.loads(raw[cut:]) if raw[cut:] else None


def _batch(
    step: int, actors: int, learners: dist.ProcessGroup
) -> tuple[list[Group], dict[str, Any]]:
    """The step's batch and the actors' states (by rank; none unless the step is saved):
    rank 0 receives them from the actors and hands them to every learner."""
    first = dist.get_world_size(learners)  # the first actor's rank
    box: list[Any] = [None]
    if dist.get_rank() == LEARNER:
        groups: list[Group] = []
        states: dict[str, Any] = {}
        for a in range(first, first + actors):
            received, state = _recv(a, step)
            groups += received
            if state is not None:
                states[str(a)] = state
        box = [(encode(groups), states)]
    if first > 1:
        dist.broadcast_object_list(box, src=LEARNER, group=learners)
    return decode_groups(box[0][0]), box[0][1]


def _resume_point(cfg: RLConfig, checkpointer: Checkpointer | None) -> str:
    """The checkpoint every rank resumes from ("": a fresh run), as rank 0 finds it."""
    box: list[Any] = [""]
    if checkpointer is not None and dist.get_rank() == LEARNER and cfg.checkpoint.resume:
        latest = checkpointer.latest()
        box = [str(latest) if latest is not None else ""]
    dist.broadcast_object_list(box, src=LEARNER)
    return box[0]


def _hand_out(resumed: dict[str, Any], actors: int, path: str) -> dict[str, Any] | None:
    """Every rank's part of a resume: rank 0 hands out the actors' saved states (None: a
    fresh run); a run with another number of actors stops on every rank with one message."""
    box: list[Any] = [None, ""]
    if dist.get_rank() == LEARNER and resumed:
        box = [resumed["actors"], ""]
        if len(resumed["actors"]) != actors:
            box[1] = (
                f"{path} was saved by a run of {len(resumed['actors'])} actors, this one has "
                f"{actors}: resume with as many, or start a new run_dir"
            )
    dist.broadcast_object_list(box, src=LEARNER)
    if box[1]:
        raise CwmError(box[1])
    return box[0]


def _learner(
    cfg: RLConfig,
    group: dist.ProcessGroup,
    learners: dist.ProcessGroup,
    actors: int,
    progress: bool,
) -> dict[str, Any] | None:
    several = dist.get_world_size(learners) > 1
    learner = Learner(cfg, build_policy(cfg), learners if several else None)
    run_dir = Path(cfg.run_dir)
    checkpointer = Checkpointer(run_dir, keep=cfg.checkpoint.keep, group=learners)
    counters = {"samples": 0, "train_seconds": 0.0, "publish_seconds": 0.0, "wall": 0.0}
    resumed: dict[str, Any] = {}
    if path := _resume_point(cfg, checkpointer):
        resumed = checkpointer.load(Path(path), learner.model, learner.optimizer)
        learner.version = resumed["version"]
        counters = resumed["counters"]
    _hand_out(resumed, actors, path)
    first = learner.version
    if dist.get_rank() != LEARNER:  # a helper rank: train on its share, gather to publish
        learner.weights()  # each gather of rank 0's (the sender's plan, each publish, the hash)
        if first:
            learner.weights()
        for step in range(first, cfg.steps):
            batch, states = _batch(step, actors, learners)
            batch, _ = shape(batch, cfg.shaping, step, cfg.steps)
            learner.train(batch)
            learner.weights()
            if cfg.saves_at(learner.version):
                _save(checkpointer, learner, states, actors, counters)
        param_hash_of(learner)
        return None
    sender = WeightSender(learner.weights(), group, LEARNER, cfg.weight_bucket_mb)
    if first:  # the actors start from the saved weights
        sender.publish(learner.weights(), first)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
    log = MetricsLog(
        run_dir, active=True, resume_step=first, total=cfg.steps, start=first, progress=progress
    )
    start = time.perf_counter() - counters["wall"]
    try:
        for step in range(first, cfg.steps):
            mark = time.perf_counter()
            batch, states = _batch(step, actors, learners)
            counters.setdefault("warmup_seconds", time.perf_counter() - start)
            batch, shaped = shape(batch, cfg.shaping, step, cfg.steps)
            stats = learner.train(batch)
            seconds, size = sender.publish(learner.weights(), learner.version)
            counters["train_seconds"] += stats.pop("train_seconds")
            counters["publish_seconds"] += seconds
            counters["samples"] += sum(len(g.samples) for g in batch)
            wall = time.perf_counter() - mark
            log.step(
                {
                    "step": learner.version,
                    **stats,
                    **batch_metrics(batch, step),
                    **shaped,
                    "trainer_idle_frac": trainer_idle_frac(
                        counters["train_seconds"], time.perf_counter() - start
                    ),
                    "publish_s": seconds,
                    "publish_bytes": size,
                    "step_time": wall,
                    "samples_per_s": len(batch) * cfg.group_size / wall,
                    "tokens_per_s": stats["trained_tokens"] / wall,
                },
                log=True,
            )
            if cfg.saves_at(learner.version):
                counters["wall"] = time.perf_counter() - start
                _save(checkpointer, learner, states, actors, counters)
    finally:
        log.close()
    total = time.perf_counter() - start
    summary = {
        "steps": learner.version,
        "param_hash": param_hash_of(learner),
        "samples": counters["samples"],
        "actors": actors,
        "learners": dist.get_world_size(learners),
        "learner_tp": cfg.learner_tp,
        **idle_fractions(counters["train_seconds"], total, counters.get("warmup_seconds", 0.0)),
        "publish_seconds": counters["publish_seconds"],
        "wall_seconds": total,
        "resumed_from": first,
        "checkpoint": str(checkpointer.latest() or ""),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _save(
    checkpointer: Checkpointer,
    learner: Learner,
    states: dict[str, Any],
    actors: int,
    counters: dict[str, Any],
) -> None:
    """Save the learners' checkpoint (collectively) with the actors' states and rank 0's
    counters (every learner saves the same train state)."""
    box = [counters]
    if checkpointer.group is not None and dist.get_world_size(checkpointer.group) > 1:
        dist.broadcast_object_list(box, src=LEARNER, group=checkpointer.group)
    if len(states) != actors:  # an actor attaches its state to every batch of a saved step
        raise CwmError(f"step {learner.version}: {len(states)} of {actors} actors sent a state")
    state = {"version": learner.version, "actors": states, "counters": box[0]}
    checkpointer.save(learner.version, learner.model, learner.optimizer, state)


def param_hash_of(learner: Learner) -> str:
    """The hash of the learner's full weights (with several ranks, a collective of theirs)."""
    return weights_hash(learner.weights())


def _actor(cfg: RLConfig, group: dist.ProcessGroup, actors: int) -> None:
    rank = dist.get_rank()
    me = rank - (dist.get_world_size() - actors)
    model = build_policy(cfg)  # the same starting weights as the learner's
    tasks = build_tasks(cfg, Tokenizer.for_model(model.config))
    for t in tasks.values():  # this actor's share of the rows
        t.rows = t.rows[me::actors]
    actor = Actor(
        build_engine(cfg, model, 0),
        tasks,
        cfg.group_size,
        recompute_kv=cfg.engine.recompute_kv,
        env_workers=cfg.env_workers,
        deterministic=cfg.overlap == "ticks",
    )
    mixture = Mixture(
        {n: t.rows for n, t in tasks.items()},
        {t.name: t.weight for t in cfg.tasks},
        cfg.seed + rank,
    )
    receiver = WeightReceiver(model.state_dict(), group, LEARNER, cfg.weight_bucket_mb)
    receiver.post()
    share, lag = cfg.groups_per_step // actors, cfg.max_lag
    buffer: list[Group] = []
    reissue: list[EpisodeSpec] = []
    started = sent = 0
    applied: list[int] = []
    pending: list[dist.Work] = []

    def apply() -> None:
        state, version = receiver.take()
        actor.apply(state, version)
        applied.append(version)
        if version < cfg.steps:
            receiver.post()

    saved = _hand_out({}, actors, _resume_point(cfg, None))  # the learners load it
    if saved is not None:  # resumed: this actor's state after the batch of the saved step
        mine = saved[str(rank)]
        apply()  # the saved weights, as their version
        sent = applied[-1]
        started = mine["started"]
        buffer = decode_groups(mine["buffer"].encode())
        reissue = decode_specs(mine["in_flight"].encode())
        mixture.load_state_dict(mine["mixture"])
    start = time.perf_counter()
    wall = 0.0  # until the last batch went out: after it a finite run has nothing to generate

    while sent < cfg.steps:
        if receiver.ready():
            apply()
        while reissue:
            buffer += actor.issue(reissue.pop(0))
        version = actor.engine.policy_version
        admit_lag = schedule.waiting_lag(sent, lag)
        while schedule.may_admit(started, version, share, admit_lag, share * cfg.steps):
            task, row = mixture.draw()
            spec = EpisodeSpec(
                group=started * actors + me,
                task=task,
                row=row,
                seed=(cfg.seed * 7919 + started * actors + me) & 0x3FFFFFFF,
            )
            started += 1
            buffer += actor.issue(spec)
        issued = [v for _, v in actor.in_flight()]
        if schedule.may_train(buffer, issued, sent, share, lag):
            batch = schedule.take_batch(buffer, share)
            sent += 1
            state = None
            if cfg.saves_at(sent):  # what a run resumed from this step starts with
                state = {
                    "started": started,
                    "buffer": encode(buffer).decode(),
                    "in_flight": encode([spec for spec, _ in actor.in_flight()]).decode(),
                    "mixture": mixture.state_dict(),
                }
            pending += _send(batch, state, LEARNER, sent - 1)
            wall = time.perf_counter() - start
        elif actor.groups:
            buffer += actor.tick()
        else:
            apply()  # nothing to do until the next version arrives
    while not applied or applied[-1] < cfg.steps:
        apply()
    for w in pending:
        w.wait()
    actor.close()  # episodes still in flight end (finish "abort", close)
    Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
    record = {
        "versions": applied,
        "groups_started": started,  # since the run began; a re-issued group counts once
        "generated_tokens": actor.generated_tokens,
        "busy_seconds": actor.busy_seconds,
        "wall_seconds": wall,
        **generation_rates(actor.generated_tokens, actor.busy_seconds, wall),
    }
    Path(cfg.run_dir, f"actor-{rank}.json").write_text(json.dumps(record, indent=2) + "\n")
