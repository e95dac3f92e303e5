"""Models and servers the cwm-serve tests share (a uniquely named module, not a conftest).

``memorize`` trains a small model until greedy decoding reproduces given token
sequences: a real model whose replies are known, so the server's tool calls and
reasoning, and the debugger's predictions, can be checked end to end.
"""

from __future__ import annotations

import msgspec
import torch

from cwm.core.model import FLAVORS, ModelConfig, Transformer, build_model

#: 3:1 local/global like the real flavors, tiny, with a short local window so that
#: test sequences cross it
WINDOWED = msgspec.structs.replace(
    FLAVORS["debug"], n_layers=4, window_pattern=4, local_window=16, global_window=1024
)
#: what `memorize` trains: small enough to learn a few sequences in seconds
MEMORIZER = msgspec.structs.replace(
    FLAVORS["debug"], dim=128, n_heads=4, n_kv_heads=2, head_dim=32, ffn_dim=256
)


def windowed_model(seed: int = 0, *, smear: bool = False, copy_dim: int = 0) -> Transformer:
    config = msgspec.structs.replace(WINDOWED, smear=smear, copy_dim=copy_dim)
    return build_model(config, seed=seed).eval()


def random_prompts(n: int, *, low: int = 2, high: int = 60, seed: int = 0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(low, high, (n,), generator=g).tolist()
    return [torch.randint(0, 16_000, (k,), generator=g).tolist() for k in lengths]


def memorize(
    sequences: list[list[int]],
    prompt_lengths: list[int],
    forced: list[set[int]] | None = None,
    *,
    config: ModelConfig = MEMORIZER,
    max_steps: int = 400,
) -> Transformer:
    """A model whose greedy continuation of ``seq[:prompt_len]`` is the rest of ``seq``.

    ``forced[i]`` holds indexes of tokens of sequence i that a caller forces (the
    debugger's forced events): they are neither learned nor checked, so sequences may
    share a prefix and part at a forced token.
    """
    torch.manual_seed(0)
    model = build_model(config, seed=0)
    width = max(map(len, sequences))
    tokens = torch.zeros(len(sequences), width, dtype=torch.long)
    mask = torch.zeros(len(sequences), width - 1, dtype=torch.bool)  # targets to learn
    for i, s in enumerate(sequences):
        tokens[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s) - 1] = True
        for k in (forced or [set()] * len(sequences))[i]:
            mask[i, k - 1] = False
    check = mask.clone()
    for i, p in enumerate(prompt_lengths):
        check[i, : p - 1] = False
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for step in range(1, max_steps + 1):
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits[mask], tokens[:, 1:][mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        # teacher-forced argmax right at every checked target = greedy reproduces them
        if (
            step >= 60
            and step % 20 == 0
            and bool((logits.argmax(-1) == tokens[:, 1:])[check].all())
        ):
            return model.eval()
    raise AssertionError(f"the model did not memorize the sequences in {max_steps} steps")
