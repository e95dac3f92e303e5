"""The model's shape as a config, and the named flavors. Importable without torch.

Layer ``i`` is global when ``i % window_pattern == 0`` (and, with
``global_last_layer``, the last layer is global too); the other layers are
local. A layer with window ``W`` lets the query at position ``q`` see the keys
``k`` with ``q - W < k <= q``; a window of ``None`` is plain causal attention.
"""

from __future__ import annotations

from cwm.core.config import AtLeast0, AtLeast1, Config, NonNegative, Positive
from cwm.core.errors import CwmError
from cwm.core.tokenizer.specials import NUM_RESERVED
from cwm.core.tokenizer.tokenizer import DEFAULT_VOCAB_NAME

#: vocabulary of the embedded tokenizer (16,384 BPE ranks + 256 specials)
EMBEDDED_VOCAB = 16_384 + NUM_RESERVED


class RopeScaling(Config, frozen=True):
    """Llama-3 RoPE scaling: low frequencies are divided by ``factor``, high ones kept,
    the band between smoothly interpolated."""

    factor: Positive = 16.0
    low_freq_factor: Positive = 1.0
    high_freq_factor: Positive = 4.0
    original_max_seq_len: AtLeast1 = 8192


class ModelConfig(Config, frozen=True):
    dim: AtLeast1 = 256
    n_layers: AtLeast1 = 4
    n_heads: AtLeast1 = 8
    n_kv_heads: AtLeast1 = 2
    head_dim: AtLeast1 = 32
    ffn_dim: AtLeast1 = 704
    vocab_size: AtLeast1 = EMBEDDED_VOCAB
    #: the tokenizer's vocabulary: an embedded name (``cwm.core.tokenizer.VOCABS``) or a
    #: tiktoken file; checkpoints carry it, so serving and evaluation encode as training did
    vocab: str = DEFAULT_VOCAB_NAME
    norm_eps: Positive = 1e-5
    rope_theta: Positive = 1_000_000.0
    rope_scaling: RopeScaling | None = None
    #: every ``window_pattern``-th layer (from layer 0) is global, the rest local
    window_pattern: AtLeast1 = 4
    local_window: AtLeast1 | None = 256
    global_window: AtLeast1 | None = 4096
    global_last_layer: bool = False
    max_seq_len: AtLeast1 = 4096
    #: attention backend, by name in ``registry("attention")``: banded (default: SDPA over
    #: the keys in reach), sdpa (dense reference), flex, flash
    attention: str = "banded"
    #: torch.compile each transformer block (falls back to eager, with a warning, if it fails)
    compile: bool = False
    #: with ``compile``: a compile failure raises instead of falling back to eager, so a
    #: benchmark never reports eager speed as compiled
    compile_strict: bool = False
    init_std: NonNegative = 0.02
    #: add to each token's embedding a gated share of the previous token's (inside its
    #: document), so one attention layer can find a token by the one before it; not a
    #: CWM or transformers architecture (no hf export), and not with tensor parallelism
    smear: bool = False
    #: with d > 0: a copy head (`cwm.core.model.copy`), a pointer over the sequence's own
    #: tokens with queries and keys of size d, mixed into the output distribution; the
    #: model then returns log-probabilities. Not a CWM or transformers architecture (no
    #: hf export), not with tensor parallelism
    copy_dim: AtLeast0 = 0

    def __post_init__(self) -> None:
        if self.n_heads % self.n_kv_heads:
            raise CwmError(
                f"model: n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})"
            )
        if self.head_dim % 2:
            raise CwmError(f"model: head_dim must be even for RoPE, got {self.head_dim}")
        if self.window_pattern < 1:
            raise CwmError(f"model: window_pattern must be >= 1, got {self.window_pattern}")
        for name in ("local_window", "global_window"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise CwmError(f"model: {name} must be >= 1 or unset, got {value}")

    def is_global(self, layer: int) -> bool:
        if self.global_last_layer and layer == self.n_layers - 1:
            return True
        return layer % self.window_pattern == 0

    def layer_windows(self) -> list[int | None]:
        """The attention window of each layer (``None``: unbounded causal)."""
        return [
            self.global_window if self.is_global(i) else self.local_window
            for i in range(self.n_layers)
        ]

    def num_params(self, *, embedding: bool = True) -> int:
        attention = self.dim * self.head_dim * (2 * self.n_heads + 2 * self.n_kv_heads)
        block = attention + 3 * self.dim * self.ffn_dim + 2 * self.dim
        total = self.n_layers * block + self.dim + self.vocab_size * self.dim  # + output head
        total += (self.dim + 1) * self.smear
        total += (2 * self.copy_dim + 1) * self.dim + 1 if self.copy_dim else 0
        return total + (self.vocab_size * self.dim if embedding else 0)

    def flops_per_token(self, seq_len: int) -> int:
        """Training FLOPs (forward + backward) per token at ``seq_len``.

        6 x the parameters that do matmuls (all but the embedding table), plus the
        attention scores and values: 12 x heads x head_dim x keys seen, where a layer
        sees ``min(seq_len, window)`` keys. This is the PaLM/torchtitan convention
        (the causal half is not subtracted), so MFU numbers compare across codebases.
        A copy head adds its scores, 6 x ``copy_dim`` x ``seq_len`` (its values are
        token ids: no matmul).
        """
        attention = sum(
            12 * self.n_heads * self.head_dim * min(seq_len, w or seq_len)
            for w in self.layer_windows()
        )
        attention += 6 * self.copy_dim * seq_len
        return 6 * self.num_params(embedding=False) + attention


FLAVORS: dict[str, ModelConfig] = {
    # seconds per step on a laptop CPU; for tests and CI
    "debug": ModelConfig(
        dim=64,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        head_dim=16,
        ffn_dim=192,
        window_pattern=2,
        local_window=64,
        global_window=1024,
        max_seq_len=1024,
    ),
    # trains on a laptop CPU
    "tiny": ModelConfig(),
    # `cwm demo`'s model: tiny with the 4k vocabulary, whose output head costs a quarter
    # (the demo learns next-frame prediction several times sooner; cwm-train's README)
    # the smear, which lets one layer copy a name found by the token before it, and the
    # copy head, which copies a line of the source into a frame (what unseen functions need)
    "demo": ModelConfig(
        vocab="cwm-code-4k", vocab_size=4096 + NUM_RESERVED, smear=True, copy_dim=64
    ),
    # GPU work at small scale
    "150m": ModelConfig(
        dim=768,
        n_layers=20,
        n_heads=12,
        n_kv_heads=4,
        head_dim=64,
        ffn_dim=2048,
        local_window=1024,
        global_window=8192,
        max_seq_len=8192,
    ),
    "1b": ModelConfig(
        dim=2048,
        n_layers=20,
        n_heads=32,
        n_kv_heads=8,
        head_dim=64,
        ffn_dim=5632,
        local_window=2048,
        global_window=16384,
        max_seq_len=16384,
    ),
    # the released CWM shape
    "cwm-32b": ModelConfig(
        dim=6144,
        n_layers=64,
        n_heads=48,
        n_kv_heads=8,
        head_dim=128,
        ffn_dim=21504,
        vocab_size=128_256,
        rope_scaling=RopeScaling(),
        local_window=8192,
        global_window=131072,
        max_seq_len=131072,
    ),
}


def flavor(name: str) -> ModelConfig:
    try:
        return FLAVORS[name]
    except KeyError:
        raise CwmError(f"unknown model flavor {name!r}; flavors: {', '.join(FLAVORS)}") from None
