"""KV blocks: ref-counted pools, prefix-cache hashes, and sliding-window freeing.

Layers that share an attention window form a KV group; each group has its own
pool of blocks and each sequence one block table per group (all layers of a
group use the same table into their own slice of the group's storage). A block
that has left a group's window can never be read again by that group's layers,
so it is freed for that group while unbounded (global) groups keep theirs.

Freed blocks keep their hash until they are handed out again (least recently
freed first), so a later request with the same prefix can take them back. Hash
chains start from the weights version, and only sequences running on the current
weights index their blocks: KV computed by older weights is never reused.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from dataclasses import dataclass

from cwm.serve.engine.sequence import FREED, Sequence


def first_block(window: int | None, num_computed: int, block_size: int) -> int:
    """The first block that a query at position ``num_computed`` or later can see."""
    return 0 if window is None else max(0, num_computed - window + 1) // block_size


class BlockPool:
    """One group's blocks: reference counts, a free list in LRU order, a hash index."""

    def __init__(self, num_blocks: int):
        self.num_blocks = num_blocks
        self.refs = [0] * num_blocks
        self.hash_of: list[int | None] = [None] * num_blocks
        self.by_hash: dict[int, int] = {}
        self.free: OrderedDict[int, None] = OrderedDict.fromkeys(range(num_blocks))

    @property
    def num_free(self) -> int:
        return len(self.free)

    def allocate(self) -> int:
        block, _ = self.free.popitem(last=False)
        old = self.hash_of[block]
        if old is not None and self.by_hash.get(old) == block:
            del self.by_hash[old]
        self.hash_of[block] = None
        self.refs[block] = 1
        return block

    def share(self, block: int) -> None:
        """Take one more reference to a block (reviving it if it was free)."""
        if self.refs[block] == 0:
            del self.free[block]
        self.refs[block] += 1

    def release(self, block: int) -> None:
        self.refs[block] -= 1
        if self.refs[block] == 0:
            self.free[block] = None  # most recently freed: handed out last

    def register(self, block: int, block_hash: int) -> None:
        self.hash_of[block] = block_hash
        self.by_hash[block_hash] = block


def chain_hash(previous: int, tokens: list[int]) -> int:
    """Hash of a full block given the hash of everything before it."""
    digest = hashlib.blake2b(previous.to_bytes(8, "little"), digest_size=8)
    digest.update(array("q", tokens).tobytes())
    return int.from_bytes(digest.digest(), "little")


@dataclass(frozen=True)
class KVGroup:
    layers: tuple[int, ...]
    #: keys a layer of this group sees; None: unbounded (never freed)
    window: int | None
    num_blocks: int


class BlockManager:
    def __init__(
        self,
        groups: list[KVGroup],
        block_size: int,
        *,
        prefix_caching: bool = True,
        window_aware: bool = True,
    ):
        self.groups, self.block_size = groups, block_size
        self.pools = [BlockPool(g.num_blocks) for g in groups]
        self.prefix_caching = prefix_caching
        self.windows = [g.window if window_aware else None for g in groups]
        self.version = 0  # weights version; set by the engine on updates

    # -- accounting --------------------------------------------------------------

    def num_free(self) -> list[int]:
        return [p.num_free for p in self.pools]

    def all_free(self) -> bool:
        return all(p.num_free == p.num_blocks for p in self.pools)

    def first_needed(self, group: int, num_computed: int) -> int:
        """The first block a query at ``num_computed`` or later may still read."""
        return first_block(self.windows[group], num_computed, self.block_size)

    def _new_blocks(self, seq: Sequence, n_new: int) -> int:
        """Blocks to allocate (in every group) so ``n_new`` more tokens fit."""
        end = seq.num_computed + n_new
        have = len(seq.block_tables[0]) if seq.block_tables else 0
        return max(0, -(-end // self.block_size) - have)

    def can_append(self, seq: Sequence, n_new: int) -> bool:
        need = self._new_blocks(seq, n_new)
        return all(p.num_free >= need for p in self.pools)

    # -- admission with prefix caching -------------------------------------------

    def _hashes(self, seq: Sequence, n_blocks: int) -> list[int]:
        bs = self.block_size
        while len(seq.block_hashes) < n_blocks:
            i = len(seq.block_hashes)
            prev = seq.block_hashes[-1] if i else seq.policy_version
            seq.block_hashes.append(chain_hash(prev, seq.token_ids[i * bs : (i + 1) * bs]))
        return seq.block_hashes[:n_blocks]

    def cached_prefix(self, seq: Sequence) -> tuple[int, list[list[int | None]]]:
        """(k, hits): the longest prefix of k full blocks whose KV every group still holds
        (for windowed groups only the blocks inside the window of token k * block_size),
        and the cached block of each group for each of those k blocks (None: not needed)."""
        # KV of older weights is never handed out, not even to a sequence that started
        # under them and is readmitted after an update (it recomputes with the new ones)
        if not self.prefix_caching or seq.policy_version != self.version:
            return 0, [[] for _ in self.pools]
        max_k = (len(seq) - 1) // self.block_size  # the last token is always computed
        hashes = self._hashes(seq, max_k)
        found = [[p.by_hash.get(h) for h in hashes] for p in self.pools]
        for k in range(max_k, 0, -1):
            hits: list[list[int | None]] = []
            for g, blocks in enumerate(found):
                first = self.first_needed(g, k * self.block_size)
                if any(b is None for b in blocks[first:k]):
                    break
                hits.append([None] * first + blocks[first:k])
            else:
                return k, hits
        return 0, [[] for _ in self.pools]

    def can_admit(self, seq: Sequence, hits: list[list[int | None]], n_new: int) -> bool:
        k = len(hits[0])
        need_new = max(0, -(-(k * self.block_size + n_new) // self.block_size) - k)
        for pool, blocks in zip(self.pools, hits):
            revived = sum(1 for b in blocks if b is not None and pool.refs[b] == 0)
            if pool.num_free < need_new + revived:
                return False
        return True

    def adopt(self, seq: Sequence, hits: list[list[int | None]]) -> None:
        """Start ``seq``'s tables with the cached blocks; they count as computed."""
        seq.block_tables = []
        for pool, blocks in zip(self.pools, hits):
            for b in blocks:
                if b is not None:
                    pool.share(b)
            seq.block_tables.append([FREED if b is None else b for b in blocks])
        seq.num_computed = len(hits[0]) * self.block_size
        seq.num_registered = len(hits[0])

    # -- growth, hashing, freeing -------------------------------------------------

    def append(self, seq: Sequence, n_new: int) -> None:
        """Allocate the blocks ``n_new`` more tokens need (check `can_append` first)."""
        if not seq.block_tables:
            seq.block_tables = [[] for _ in self.pools]
        for _ in range(self._new_blocks(seq, n_new)):
            for pool, table in zip(self.pools, seq.block_tables):
                table.append(pool.allocate())

    def computed(self, seq: Sequence) -> None:
        """After a step: index the blocks that became full, free those out of every window."""
        bs = self.block_size
        if self.prefix_caching and seq.policy_version == self.version:
            full = seq.num_computed // bs
            hashes = self._hashes(seq, full)
            for i in range(seq.num_registered, full):
                for pool, table in zip(self.pools, seq.block_tables):
                    if table[i] != FREED:
                        pool.register(table[i], hashes[i])
            seq.num_registered = full
        for g, (pool, table) in enumerate(zip(self.pools, seq.block_tables)):
            i = self.first_needed(g, seq.num_computed) - 1
            while i >= 0 and table[i] != FREED:  # freed blocks form a prefix of the table
                pool.release(table[i])
                table[i] = FREED
                i -= 1

    def free(self, seq: Sequence) -> None:
        for pool, table in zip(self.pools, seq.block_tables):
            for b in reversed(table):
                if b != FREED:
                    pool.release(b)
        seq.block_tables = []
        seq.num_computed = seq.num_registered = 0
