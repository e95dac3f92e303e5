"""Admission control by ``max_lag``: when a new group may start, when the learner may train.

A sample's staleness is the learner's version minus the version of its oldest token.
Two rules keep every trained sample within ``max_lag`` (PipelineRL's bound, made exact):

- admission: a group may start at learner version v only while fewer than
  ``B * (v + 1 + max_lag)`` groups have started (B = groups per step), and no more
  than the run trains on;
- training at version v waits until every group started at version <= v - max_lag has
  finished, then takes the B finished groups with the oldest tokens (ties: the earliest
  started). At most B groups started that early are left (the admission bound), so all
  of them are in this batch, and everything left behind will be within the lag at v + 1.

Nothing is dropped for staleness by construction; `stale` still checks each batch, and
whatever it finds is dropped and counted, never trained silently. With ``max_lag = 0``
generation waits for each update: the synchronous schedule, step for step.
"""

from __future__ import annotations

from collections.abc import Sequence

from cwm.rl.run.samples import Group


def waiting_lag(batches_out: int, max_lag: int) -> int:
    """The lag admission uses while the learner waits for its next batch: none before the
    run's first batch is out (only the groups it needs start, so the learner starts
    soonest), ``max_lag`` after it (an actor slower than the learner keeps all the
    sequences the bound allows in flight, its engine's fastest pace)."""
    return max_lag if batches_out else 0


def may_admit(started: int, version: int, groups_per_step: int, max_lag: int, needed: int) -> bool:
    """``needed``: the groups the whole run trains on; none starts beyond them (its tokens
    would only slow the last batches down)."""
    return started < min(needed, groups_per_step * (version + 1 + max_lag))


def may_train(
    buffer: Sequence[Group],
    in_flight_issue_versions: Sequence[int],
    version: int,
    groups_per_step: int,
    max_lag: int,
) -> bool:
    if len(buffer) < groups_per_step:
        return False
    return all(v > version - max_lag for v in in_flight_issue_versions)


def take_batch(buffer: list[Group], groups_per_step: int) -> list[Group]:
    """Remove and return the B finished groups with the oldest tokens."""
    buffer.sort(key=lambda g: (g.oldest, g.spec.group))
    batch, buffer[:] = buffer[:groups_per_step], buffer[groups_per_step:]
    return batch


def stale(batch: list[Group], version: int, max_lag: int) -> list[Group]:
    return [g for g in batch if version - g.oldest > max_lag]
