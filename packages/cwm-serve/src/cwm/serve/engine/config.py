"""The engine's knobs. Defaults run on a laptop CPU."""

from __future__ import annotations

from cwm.core.config import AtLeast1, Config
from cwm.core.errors import CwmError

#: flash-attn's paged kernel (``flash_attn_with_kvcache``) needs a block size that is a
#: multiple of this
FLASH_BLOCK = 256


class EngineConfig(Config, frozen=True):
    #: tokens per KV block; None: 16 on CPU, 256 with flash-attn on CUDA (its paged kernel
    #: needs a multiple of 256)
    block_size: AtLeast1 | None = None
    #: blocks of the unbounded (global) layers' pool; None: from ``kv_cache_mib``
    num_blocks: AtLeast1 | None = None
    #: KV memory budget for the blocks when ``num_blocks`` is unset
    kv_cache_mib: AtLeast1 = 256
    #: sequences decoded together
    max_num_seqs: AtLeast1 = 64
    #: tokens computed in one step (prefill chunks plus one per decoding sequence)
    max_num_batched_tokens: AtLeast1 = 512
    #: prompt + generated tokens of one sequence; None: the model's max_seq_len
    max_model_len: AtLeast1 | None = None
    #: free a local layer's blocks once they have left its window (global layers keep them)
    window_aware: bool = True
    #: reuse the KV blocks of a prompt prefix another request already computed
    prefix_caching: bool = True
    #: replay CUDA graphs for decode steps (CUDA only)
    cuda_graphs: bool = True
    #: largest decode batch captured in a CUDA graph (bigger batches run eagerly)
    max_graph_batch: AtLeast1 = 64

    def resolve_block_size(self, flash: bool) -> int:
        """The tokens per KV block: ``block_size``, checked against the kernel that will
        read the blocks (``flash``: flash-attn's paged kernel), or its default."""
        if self.block_size is None:
            return FLASH_BLOCK if flash else 16
        if self.block_size < 1:
            raise CwmError(f"engine block_size must be >= 1, got {self.block_size}")
        if flash and self.block_size % FLASH_BLOCK:
            raise CwmError(
                f"engine block_size={self.block_size}: flash-attn's paged kernel needs a "
                f"multiple of {FLASH_BLOCK}; set it to {FLASH_BLOCK} (or leave it unset)"
            )
        return self.block_size
