"""What the OpenAI-compatible policies (``cwm forage``'s and ``cwm eval``'s) ask a server
first: which model it serves and its context length, and how its refusals read.

One place for the key lookup (``--api-key``, else ``CWM_API_KEY``, else
``OPENAI_API_KEY``), for a ``--model`` the server does not list (an error naming the
ones it does, never a silent fallback), and for turning the client's exceptions into
one-line errors that say what to do.
"""

from __future__ import annotations

import os
from typing import Any

from cwm.core.errors import CwmError


def api_key(explicit: str | None = None) -> str:
    """The key to send: ``explicit``, else ``CWM_API_KEY``, else ``OPENAI_API_KEY``; a
    server without a key ignores the placeholder."""
    return explicit or os.environ.get("CWM_API_KEY") or os.environ.get("OPENAI_API_KEY") or "none"


def openai_module() -> Any:
    try:
        import openai
    except ImportError:
        raise CwmError(
            "the openai policy needs the openai client: pip install 'cwm-data[openai]'"
        ) from None
    return openai


def server_error(base_url: str, exc: Exception) -> CwmError:
    """A one-line error for what the ``openai`` client raised talking to ``base_url``."""
    openai = openai_module()
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return CwmError(
            f"the server at {base_url} refused the API key ({exc.status_code}); pass the key it "
            "was started with (--api-key, or CWM_API_KEY / OPENAI_API_KEY)"
        )
    if isinstance(exc, openai.APIConnectionError | openai.InternalServerError):
        return CwmError(
            f"lost the server at {base_url} ({exc}); finished work is kept: rerun the same "
            "command to resume (or start one: cwm serve)"
        )
    if isinstance(exc, openai.APIStatusError):
        return CwmError(f"the server at {base_url} refused a request ({exc.status_code}): {exc}")
    return CwmError(f"the server at {base_url} failed: {exc}")


def client_errors() -> tuple[type[Exception], ...]:
    """The client's exceptions `server_error` turns into one line."""
    openai = openai_module()
    return (openai.APIStatusError, openai.APIConnectionError)


def served_model(
    base_url: str, *, model: str | None = None, key: str | None = None, timeout: float = 60.0
) -> tuple[str, int | None]:
    """The model to ask for (``model``, which the server must list, or the first it lists)
    and its context length when the server reports one (``max_model_len`` in ``/v1/models``)."""
    openai = openai_module()
    client = openai.OpenAI(base_url=base_url, api_key=api_key(key), timeout=timeout)
    try:
        cards = client.models.list().data
    except openai.APIConnectionError:
        raise CwmError(
            f"no server answers at {base_url}; start one (cwm serve) or fix the URL"
        ) from None
    except openai.APIStatusError as exc:
        raise server_error(base_url, exc) from None
    if not cards:
        raise CwmError(f"the server at {base_url} lists no models; is it a model server?")
    card = next((c for c in cards if model is None or c.id == model), None)
    if card is None:
        names = ", ".join(c.id for c in cards) or "none"
        raise CwmError(
            f"the server at {base_url} has no model {model!r} (it lists: {names}); "
            "pass one of those with --model"
        )
    length = (card.model_extra or {}).get("max_model_len")
    return card.id, int(length) if length else None
