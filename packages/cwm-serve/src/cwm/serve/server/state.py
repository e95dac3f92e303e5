"""What the endpoints share: the engine, its async front, the served model's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.responses import Response

from cwm.serve.engine import LLMEngine
from cwm.serve.engine.async_engine import AsyncEngine
from cwm.serve.server.limits import ServerLimits
from cwm.serve.server.protocol import ModelNotFound

if TYPE_CHECKING:
    from cwm.serve.server.weights_control import WeightsControl


@dataclass
class ServerState:
    engine: LLMEngine
    async_engine: AsyncEngine
    model_name: str
    limits: ServerLimits
    #: the trainer's weights group (``cwm serve --weights-control``), else None
    weights: WeightsControl | None = None

    def check_model(self, name: str | None) -> None:
        """Refuse a request for a model this server does not serve (None: the served one)."""
        if name is not None and name != self.model_name:
            raise ModelNotFound(
                f"the model {name!r} does not exist; this server serves {self.model_name!r}"
            )


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status_code=status, media_type="application/json")


def error_response(
    message: str, status: int, kind: str = "invalid_request_error", *, code: str | None = None
) -> Response:
    """An OpenAI error body: the official clients raise the matching error with ``message``."""
    return json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status
    )
