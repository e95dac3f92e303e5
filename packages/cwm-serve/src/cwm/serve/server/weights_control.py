"""A trainer's weights group, joined over HTTP (``cwm serve --weights-control``).

    POST /control/weights/join   {"host", "port", "rank", "world_size", ...}: join the
                                 trainer's group (returns once every member joined)
    POST /control/weights/apply  {"version"?: N, "timeout_s"?: T}: put the newest received
                                 version (at least N) into the running engine
    GET  /control/weights        joined, received and applied versions, bytes, an error

After the join, a thread of the server posts the receives of the next version and
keeps the newest one that arrived, staged; ``apply`` copies it into the engine's
parameters between two decode steps (`LLMEngine.update_weights`: running sequences
keep their KV cache, their next tokens record the new version). With ``auto_apply``
every version is applied as it arrives. The sender is the trainer's
`cwm.serve.engine.weight_sync.WeightSender`; `cwm.serve.weights_client.ServerWeights`
does the trainer's side. The routes need the API key, as /v1 does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Annotated, Any

import msgspec
import torch
from starlette.requests import Request
from starlette.responses import Response

from cwm.core.errors import CwmError
from cwm.serve.engine import LLMEngine
from cwm.serve.engine.async_engine import AsyncEngine
from cwm.serve.engine.weight_sync import WeightReceiver, standalone_group
from cwm.serve.server.protocol import decode
from cwm.serve.server.state import ServerState, error_response, json_response


class JoinRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str  # where the group's store listens (the sender, rank 0, hosts it)
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)]
    rank: Annotated[int, msgspec.Meta(ge=1)]  # this server's rank; the sender is 0
    world_size: Annotated[int, msgspec.Meta(ge=2)]
    src: Annotated[int, msgspec.Meta(ge=0)] = 0  # the sender's rank
    bucket_mb: Annotated[float, msgspec.Meta(gt=0)] = 64.0  # the sender's bucket size
    backend: str = "gloo"  # or "nccl" (weights arrive on the engine's GPU)
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    auto_apply: bool = False


class ApplyRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=0)] | None = None  # None: whatever arrived last
    timeout_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0


class WeightsControl:
    """The server's side of the weights group: receives in a thread, applies on request."""

    def __init__(self, engine: LLMEngine, async_engine: AsyncEngine):
        self.engine, self.async_engine = engine, async_engine
        self.join: JoinRequest | None = None
        self.receiver: WeightReceiver | None = None
        self.staged: tuple[dict[str, torch.Tensor], int] | None = None
        self.received: int | None = None  # the newest version that arrived
        self.received_bytes = 0
        self.error: str | None = None
        self.cond = threading.Condition()

    def status(self) -> dict[str, Any]:
        with self.cond:
            return {
                "joined": self.join is not None,
                "rank": self.join.rank if self.join else None,
                "world_size": self.join.world_size if self.join else None,
                "received": self.received,
                "staged": self.staged[1] if self.staged else None,
                "applied": self.engine.policy_version,
                "received_bytes": self.received_bytes,
                "error": self.error,
            }

    def connect(self, spec: JoinRequest) -> None:
        """Join the group (blocks until every member joined), then start receiving."""
        with self.cond:
            if self.join is not None:
                raise CwmError(
                    f"this server already joined a weights group (rank {self.join.rank} of "
                    f"{self.join.world_size}); restart it to join another"
                )
            self.join = spec
        try:
            group = standalone_group(
                spec.host,
                spec.port,
                spec.rank,
                spec.world_size,
                backend=spec.backend,
                timeout_s=spec.timeout_s,
            )
        except CwmError:
            with self.cond:
                self.join = None  # a later join may try again
            raise
        device = next(self.engine.model.parameters()).device if spec.backend == "nccl" else "cpu"
        self.receiver = WeightReceiver(
            self.engine.model.state_dict(), group, spec.src, spec.bucket_mb, device=device
        )
        self.receiver.post()
        threading.Thread(target=self._receive, name="cwm-weights", daemon=True).start()

    def _receive(self) -> None:
        receiver = self.receiver
        assert receiver is not None and self.join is not None
        while True:
            try:
                state, version = receiver.take()
                size = receiver.nbytes()
                receiver.post()
            except Exception as exc:  # the sender went away: say so in the status and applies
                with self.cond:
                    self.error = f"receiving weights failed: {exc}".splitlines()[0]
                    self.cond.notify_all()
                return
            with self.cond:
                self.staged, self.received = (state, version), version
                self.received_bytes += size
                self.cond.notify_all()
            if self.join.auto_apply:
                self.async_engine.commands.put(self._apply_staged)

    def _apply_staged(self) -> int | None:
        """On the engine thread, between steps: the staged version into the model."""
        with self.cond:
            staged, self.staged = self.staged, None
        if staged is None:
            return None
        state, version = staged
        # the version in use again replaces it too: a trainer that starts at version N
        # hands a server serving its own checkpoint as N the trainer's weights
        if version >= self.engine.policy_version:
            self.engine.update_weights(state, version)
        return version

    def wait_for(self, version: int | None, timeout_s: float) -> None:
        """Block until a version (at least ``version``) is staged; a one-line error if not."""
        if self.join is None:
            raise CwmError("this server has not joined a weights group: POST /control/weights/join")

        def arrived() -> bool:
            return self.error is not None or (
                self.staged is not None and (version is None or self.staged[1] >= version)
            )

        with self.cond:
            if not self.cond.wait_for(arrived, timeout_s) or self.staged is None:
                wanted = f" >= {version}" if version is not None else ""
                why = self.error or f"it did not arrive in {timeout_s:g} s"
                raise CwmError(
                    f"no weights version{wanted} to apply: {why} (newest received: {self.received})"
                )


async def join(request: Request) -> Response:
    control = _control(request)
    if isinstance(control, Response):
        return control
    spec = decode(await request.body(), JoinRequest)
    await asyncio.to_thread(control.connect, spec)
    return json_response({**control.status(), "version": control.engine.policy_version})


async def apply(request: Request) -> Response:
    control = _control(request)
    if isinstance(control, Response):
        return control
    spec = decode(await request.body() or b"{}", ApplyRequest)
    current = control.engine.policy_version
    if spec.version is not None and current >= spec.version:
        return json_response({"version": current, "applied": False, "seconds": 0.0})
    start = time.perf_counter()
    try:
        await asyncio.to_thread(control.wait_for, spec.version, spec.timeout_s)
    except CwmError as exc:
        return error_response(str(exc), 409, code="weights_not_ready")
    version = await control.async_engine.call(lambda _: control._apply_staged())
    return json_response(
        {
            "version": control.engine.policy_version,
            "applied": version is not None,
            "seconds": round(time.perf_counter() - start, 4),
        }
    )


async def status(request: Request) -> Response:
    control = _control(request)
    if isinstance(control, Response):
        return control
    return json_response(control.status())


def _control(request: Request) -> WeightsControl | Response:
    state: ServerState = request.app.state.cwm
    if state.weights is None:
        return error_response(
            "weight control is off: start cwm serve with --weights-control", 404, code="not_found"
        )
    return state.weights
