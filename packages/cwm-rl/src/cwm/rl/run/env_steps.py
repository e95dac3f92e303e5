"""Environment steps off the generation thread: a bounded pool of workers.

A step may grade (tests in a subprocess, a tracer run) for longer than many engine steps,
so the actor hands it to a worker and goes on decoding. Steps come back in the order they
were submitted (the engine's), which keeps the actor's requests in a fixed order:

- ``land(wait_all=True)``: every step submitted so far, once all are done (the deterministic
  schedule: the steps of one engine step run at once, and their results land together);
- ``land(wait_all=False)``: the done steps, in submission order (free-running: a slow grade
  holds back only its own episode).

Environments already run their steps in worker threads (`Env.astep`), so steps of different
episodes may run at once; the actor never steps one episode twice at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

T = TypeVar("T")  # what the caller keeps beside each step (its episode and action)


class EnvSteps(Generic[T]):
    def __init__(self, workers: int):
        self.pool = ThreadPoolExecutor(max(workers, 1), thread_name_prefix="env-step")
        self.pending: list[tuple[T, Future]] = []

    def submit(self, key: T, fn: Callable[..., object], *args: object) -> None:
        self.pending.append((key, self.pool.submit(fn, *args)))

    def __len__(self) -> int:
        return len(self.pending)

    def land(self, *, wait_all: bool, timeout: float | None = None) -> list[tuple[T, Future]]:
        """Finished steps in submission order; ``timeout``: wait that long for one when none
        is done (so an actor with nothing to decode does not spin)."""
        if wait_all:
            wait([f for _, f in self.pending])
        elif timeout and self.pending and not any(f.done() for _, f in self.pending):
            wait([f for _, f in self.pending], timeout=timeout, return_when=FIRST_COMPLETED)
        flags = [f.done() for _, f in self.pending]  # once: a step may end meanwhile
        done = [p for p, ok in zip(self.pending, flags) if ok]
        self.pending = [p for p, ok in zip(self.pending, flags) if not ok]
        return done

    def drain(self) -> list[tuple[T, Future]]:
        """Every pending step once it is done (their states may then be closed)."""
        return self.land(wait_all=True)

    def shutdown(self) -> None:
        self.drain()
        self.pool.shutdown()
