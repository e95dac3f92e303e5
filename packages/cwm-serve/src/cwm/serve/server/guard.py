"""The door of the server: the API key on /v1 and /control, and the size of request bodies.

A plain ASGI middleware, so a request without the key, or with a body over the
limit, is answered before any endpoint reads or parses it. ``/health`` needs no key.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cwm.serve.server.state import error_response


class BodyTooLarge(Exception):
    """A body without a Content-Length grew past the limit while it was read."""


def too_large(limit: int) -> Any:
    return error_response(
        f"the request body is larger than {limit} bytes (cwm serve --max-body-bytes)", 413
    )


class Guard:
    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int):
        self.app, self.max_body_bytes = app, max_body_bytes
        self.key = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.key is not None and scope["path"].startswith(("/v1", "/control")):
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.key):
                why = "a wrong API key" if given else "no API key"
                response = error_response(
                    f"{why} in the Authorization header; send 'Authorization: Bearer KEY' with "
                    "the key cwm serve was started with (--api-key or CWM_API_KEY)",
                    401,
                    code="invalid_api_key",
                )
                return await response(scope, receive, send)
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return await too_large(self.max_body_bytes)(scope, receive, send)
        await self.app(scope, self._capped(receive), send)

    def _capped(self, receive: Receive) -> Receive:
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body_bytes:
                raise BodyTooLarge
            return message

        return capped
