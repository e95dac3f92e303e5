"""The OpenAI-compatible HTTP API over an `LLMEngine` (a Starlette app).

    GET  /health               {"status": "ok", running, waiting, free_blocks, total_blocks, ...}
    GET  /v1/models            the served model
    POST /v1/completions       text or token-id prompts
    POST /v1/chat/completions  CWM chat format, tools, reasoning
    /control/weights/...       a trainer's weights group (`weights_control`; off by default)

A request the server refuses gets an OpenAI-style error body whose message says
what to change: 400 (bad or too large a request), 401 (no or a wrong API key, when
the server has one), 404 (a model it does not serve), 413 (a body over the limit).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cwm.core.errors import CwmError
from cwm.serve.engine import LLMEngine
from cwm.serve.engine.async_engine import AsyncEngine, EngineDead
from cwm.serve.server.chat_api import chat_completions
from cwm.serve.server.completions import completions
from cwm.serve.server.guard import BodyTooLarge, Guard, too_large
from cwm.serve.server.limits import ServerLimits
from cwm.serve.server.protocol import ModelNotFound
from cwm.serve.server.state import ServerState, error_response, json_response
from cwm.serve.server.streams import ClientGone, now
from cwm.serve.server.weights_control import WeightsControl
from cwm.serve.server.weights_control import apply as apply_weights
from cwm.serve.server.weights_control import join as join_weights
from cwm.serve.server.weights_control import status as weights_status


async def health(request: Request) -> Response:
    state: ServerState = request.app.state.cwm
    stats = await state.async_engine.call(lambda engine: engine.stats())
    return json_response({"status": "ok", "model": state.model_name, **stats})


async def models(request: Request) -> Response:
    state: ServerState = request.app.state.cwm
    card = {
        "id": state.model_name,
        "object": "model",
        "created": now(),
        "owned_by": "cwm",
        "max_model_len": state.engine.max_model_len,
    }
    return json_response({"object": "list", "data": [card]})


async def _bad_request(request: Request, exc: Exception) -> Response:
    return error_response(str(exc), 400)


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(str(exc), 404, code="model_not_found")


async def _too_large(request: Request, exc: Exception) -> Response:
    return too_large(request.app.state.cwm.limits.max_body_bytes)


async def _engine_dead(request: Request, exc: Exception) -> Response:
    return error_response(str(exc), 500, "server_error")


async def _client_gone(request: Request, exc: Exception) -> Response:
    return error_response("client disconnected", 499)


def create_app(
    engine: LLMEngine,
    *,
    model_name: str = "cwm",
    limits: ServerLimits | None = None,
    weights_control: bool = False,
) -> Starlette:
    """The API over ``engine``; the engine runs on its own thread while the app lives.
    ``weights_control`` opens /control/weights/ (a trainer's weights group)."""
    limits = limits or ServerLimits()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async_engine = AsyncEngine(engine)
        weights = WeightsControl(engine, async_engine) if weights_control else None
        app.state.cwm = ServerState(engine, async_engine, model_name, limits, weights)
        try:
            yield
        finally:
            async_engine.shutdown()

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/control/weights", weights_status, methods=["GET"]),
        Route("/control/weights/join", join_weights, methods=["POST"]),
        Route("/control/weights/apply", apply_weights, methods=["POST"]),
    ]
    handlers = {
        CwmError: _bad_request,
        ModelNotFound: _not_found,
        BodyTooLarge: _too_large,
        EngineDead: _engine_dead,
        ClientGone: _client_gone,
    }
    guard = Middleware(Guard, api_key=limits.api_key, max_body_bytes=limits.max_body_bytes)
    return Starlette(
        routes=routes,
        exception_handlers=handlers,
        lifespan=lifespan,  # type: ignore[arg-type]
        middleware=[guard],
    )
