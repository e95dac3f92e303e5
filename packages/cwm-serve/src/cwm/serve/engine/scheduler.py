"""Which sequences compute how many tokens in the next step.

Running sequences go first (one token each when decoding, the next chunk of a
prompt otherwise), then waiting ones are admitted while the step's token budget,
the sequence limit and the free blocks allow. A prompt longer than what is left
of the budget is prefilled in chunks over several steps. When a running sequence
cannot get a block, the newest running sequence is preempted: its blocks are
freed and it goes back to the front of the queue, to be recomputed later (its
prefix blocks may still be in the cache then).

Admission is fair between requests: the next sequence admitted belongs to the
waiting request with the fewest running sequences (queue order among equals), so
a request with many samples (``n``) fills free slots only while nobody else waits,
and a later request gets the next slot that frees up instead of queueing behind
all of them.
"""

from __future__ import annotations

from collections import Counter, deque

from cwm.serve.engine.block_manager import BlockManager
from cwm.serve.engine.sequence import Sequence, Status


class Scheduler:
    def __init__(self, blocks: BlockManager, *, max_num_seqs: int, max_num_batched_tokens: int):
        self.blocks = blocks
        self.max_num_seqs, self.max_num_batched_tokens = max_num_seqs, max_num_batched_tokens
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.num_preemptions = 0
        self.num_prefix_hit_tokens = 0  # prompt tokens taken from the prefix cache

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def has_unfinished(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self) -> list[Sequence]:
        """The sequences of the next step; each one's ``num_scheduled`` tokens have blocks."""
        budget = self.max_num_batched_tokens
        batch: list[Sequence] = []
        i = 0
        while i < len(self.running) and budget > 0:
            seq = self.running[i]
            n = min(len(seq) - seq.num_computed, budget)
            while not self.blocks.can_append(seq, n):
                victim = self.running[-1]
                self.preempt(victim)
                if victim is seq:
                    break
            else:
                self.blocks.append(seq, n)
                seq.num_scheduled = n
                batch.append(seq)
                budget -= n
                i += 1
                continue
            break
        running = Counter(s.request_id for s in self.running)
        while self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
            seq = self._next_waiting(running)
            cached, hits = self.blocks.cached_prefix(seq)
            n = min(len(seq) - cached * self.blocks.block_size, budget)
            if not self.blocks.can_admit(seq, hits, n):
                break
            self.waiting.remove(seq)
            running[seq.request_id] += 1
            self.blocks.adopt(seq, hits)
            self.num_prefix_hit_tokens += seq.num_computed
            self.blocks.append(seq, n)
            seq.status, seq.num_scheduled = Status.RUNNING, n
            self.running.append(seq)
            batch.append(seq)
            budget -= n
        return batch

    def _next_waiting(self, running: Counter[str]) -> Sequence:
        """The first waiting sequence of the request with the fewest running sequences."""
        best, fewest = self.waiting[0], running[self.waiting[0].request_id]
        for seq in self.waiting:
            if fewest == 0:  # nobody beats a request with none running: stop looking
                break
            if running[seq.request_id] < fewest:
                best, fewest = seq, running[seq.request_id]
        return best

    def preempt(self, seq: Sequence) -> None:
        """Free ``seq``'s blocks; it will be recomputed from its tokens when readmitted."""
        self.running.remove(seq)
        self.blocks.free(seq)
        seq.status, seq.num_scheduled = Status.WAITING, 0
        self.num_preemptions += 1
        self.waiting.appendleft(seq)

    def recompute_all(self) -> None:
        """Free every running sequence's KV; each is recomputed, in order, when readmitted
        (after a weight update, so that no KV of older weights is kept)."""
        for seq in reversed(self.running):
            self.blocks.free(seq)
            seq.status, seq.num_scheduled, seq.num_computed = Status.WAITING, 0, 0
            self.waiting.appendleft(seq)
        self.running.clear()

    def finish(self, seq: Sequence, reason: str) -> None:
        """End ``seq`` (stop, length, abort) wherever it is and free its blocks."""
        if seq.status is Status.RUNNING:
            self.running.remove(seq)
        elif seq.status is Status.WAITING:
            self.waiting.remove(seq)
        self.blocks.free(seq)
        seq.status, seq.finish_reason, seq.num_scheduled = Status.FINISHED, reason, 0
