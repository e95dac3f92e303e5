"""What the endpoints share: the engine, its async front, the served model's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.responses import Response

from cwm.serve.engine import LLMEngine
from cwm.serve.engine.async_engine import AsyncEngine


@dataclass
class ServerState:
    engine: LLMEngine
    async_engine: AsyncEngine
    model_name: str


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status_code=status, media_type="application/json")


def error_response(message: str, status: int, kind: str = "invalid_request_error") -> Response:
    return json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": None}}, status
    )
