"""How one request is sampled: greedy, temperature, top-p/top-k, stops, seed, logprobs, n."""

from __future__ import annotations

import msgspec

from cwm.core.errors import CwmError

#: seeds a torch generator takes (a sample's seed is ``(seed + index) % SEED_LIMIT``)
SEED_LIMIT = 2**63


class SamplingParams(msgspec.Struct, frozen=True, kw_only=True):
    #: new tokens at most
    max_tokens: int = 16
    #: 0 is greedy (argmax); otherwise logits are divided by it before sampling
    temperature: float = 1.0
    #: nucleus sampling: keep the smallest set of tokens whose probability reaches top_p
    top_p: float = 1.0
    #: keep the k most likely tokens; 0 keeps all
    top_k: int = 0
    #: seeds this request's own generator, so its samples do not depend on the batch
    seed: int | None = None
    #: strings that end the output (not included in it)
    stop: list[str] = []
    #: token ids that end the output (kept in the token ids, not in the text)
    stop_token_ids: list[int] = []
    #: keep going past the tokenizer's end-of-text/end-of-turn tokens
    ignore_eos: bool = False
    #: None: no logprobs; k >= 0: the sampled token's logprob and the top k alternatives
    logprobs: int | None = None
    #: independent samples of the same prompt
    n: int = 1

    def __post_init__(self) -> None:
        checks = [
            (self.max_tokens >= 1, f"max_tokens must be >= 1, got {self.max_tokens}"),
            (self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}"),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}"),
            (self.top_k >= 0, f"top_k must be >= 0 (0: off), got {self.top_k}"),
            (self.n >= 1, f"n must be >= 1, got {self.n}"),
            (
                self.seed is None or 0 <= self.seed < SEED_LIMIT,
                f"seed must be in [0, 2**63), got {self.seed}",
            ),
            (
                self.logprobs is None or 0 <= self.logprobs <= 20,
                f"logprobs must be between 0 and 20, got {self.logprobs}",
            ),
            (all(self.stop), "stop strings must not be empty"),
        ]
        for ok, message in checks:
            if not ok:
                raise CwmError(message)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0 or self.top_k == 1
