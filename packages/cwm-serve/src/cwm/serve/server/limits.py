"""What one request may ask of the server, so that no client can take it over.

The engine admits sequences fairly between requests (see the scheduler); these
limits bound a single request before it reaches the engine: how many sequences
(``n`` times the prompts), how many tokens in all, and how large its body is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cwm.core.config import AtLeast1, Config
from cwm.serve.server.protocol import BadRequest

if TYPE_CHECKING:  # the CLI reads the defaults without loading the engine (and torch)
    from cwm.serve.engine import SamplingParams


class ServerLimits(Config, frozen=True):
    #: every /v1 request must carry ``Authorization: Bearer API_KEY``; None: no key
    api_key: str | None = None
    #: sequences one request may ask for: ``n`` times its prompts
    max_n: AtLeast1 = 64
    #: prompt plus ``max_tokens``, summed over a request's sequences
    max_request_tokens: AtLeast1 = 1_048_576
    #: bytes of a request body (a 131k-token prompt is about 0.5 MB of text)
    max_body_bytes: AtLeast1 = 2 * 2**20


def check_sequences(limits: ServerLimits, prompts: int, n: int) -> None:
    """Refuse a request for more sequences than ``max_n`` (before its prompts are encoded)."""
    if prompts * n > limits.max_n:
        asked = f"n={n}" if prompts == 1 else f"n={n} x {prompts} prompts"
        raise BadRequest(
            f"{asked} asks for {prompts * n} sequences; this server allows {limits.max_n} a "
            "request (cwm serve --max-n): lower n or send fewer prompts"
        )


def check_tokens(limits: ServerLimits, prompts: list[list[int]], params: SamplingParams) -> None:
    """Refuse a request whose sequences would hold more than ``max_request_tokens``."""
    total = sum(len(p) + params.max_tokens for p in prompts) * params.n
    if total > limits.max_request_tokens:
        raise BadRequest(
            f"the request's sequences hold up to {total} tokens (prompt + max_tokens, times n); "
            f"this server allows {limits.max_request_tokens} a request "
            "(cwm serve --max-request-tokens): lower max_tokens or n"
        )
