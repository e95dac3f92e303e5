"""The trainer's side of ``cwm serve --weights-control``: join servers, publish, apply.

    servers = ServerWeights(["http://10.0.0.7:8000"], model.state_dict(), host="10.0.0.5")
    servers.publish(model.state_dict(), version=1)  # a bucketed broadcast to every server
    servers.apply(1)                                # each puts version 1 into its engine

This process is rank 0 of a process group of its own (its store on ``host:port``); the
servers are ranks 1..N. Nothing here needs ``torchrun``: a trainer launched any way
can feed engines that run anywhere its ``host`` is reachable from.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from torch import Tensor

from cwm.core.errors import CwmError
from cwm.core.testing import free_port
from cwm.serve.engine.weight_sync import WeightSender, standalone_group


class ServerWeights:
    def __init__(
        self,
        urls: Sequence[str],
        state: Mapping[str, Tensor],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        bucket_mb: float = 64.0,
        backend: str = "gloo",
        api_key: str | None = None,
        timeout_s: float = 300.0,
        auto_apply: bool = False,
    ):
        if not urls:
            raise CwmError("ServerWeights needs at least one server URL")
        self.urls = [u.rstrip("/").removesuffix("/v1") for u in urls]
        self.api_key, self.timeout_s = api_key, timeout_s
        for url in self.urls:  # fails fast: control off, a wrong key, already in a group
            found = self._call(url, "/control/weights", None)
            if found["joined"]:
                raise CwmError(f"{url} already joined a weights group; restart it first")
        port = port or free_port()
        world = len(self.urls) + 1
        joins = [
            {
                "host": host,
                "port": port,
                "rank": rank,
                "world_size": world,
                "bucket_mb": bucket_mb,
                "backend": backend,
                "timeout_s": timeout_s,
                "auto_apply": auto_apply,
            }
            for rank in range(1, world)
        ]
        # every member joins from a daemon thread (a join returns once all are in), so a
        # server's refusal ends the wait at once and nothing is left waiting on exit
        errors: list[CwmError] = []
        made: list[Any] = []

        def run(fn: Any, *args: Any) -> None:
            try:
                fn(*args)
            except CwmError as exc:
                errors.append(exc)

        def rank0() -> None:
            made.append(
                standalone_group(host, port, 0, world, backend=backend, timeout_s=timeout_s)
            )

        threads = [threading.Thread(target=run, args=(rank0,), daemon=True)]
        threads += [
            threading.Thread(
                target=run, args=(self._call, url, "/control/weights/join", body), daemon=True
            )
            for url, body in zip(self.urls, joins)
        ]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads) and not errors:
            time.sleep(0.05)
        if errors:
            raise errors[0]
        self.group = made[0]
        device = "cuda" if backend == "nccl" else "cpu"
        self.sender = WeightSender(state, self.group, 0, bucket_mb, device=device)
        self._lock = threading.Lock()

    def publish(self, state: Mapping[str, Tensor], version: int) -> tuple[float, int]:
        """Broadcast ``state`` as ``version`` to every server; (seconds, bytes)."""
        with self._lock:
            return self.sender.publish(state, version)

    def apply(self, version: int | None = None, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """Every server puts the newest version it received (at least ``version``) into its
        engine; their answers (``version``, ``applied``, ``seconds``)."""
        body = {"version": version, "timeout_s": timeout_s}
        with ThreadPoolExecutor(len(self.urls)) as pool:
            return list(
                pool.map(
                    self._call,
                    self.urls,
                    ["/control/weights/apply"] * len(self.urls),
                    [body] * len(self.urls),
                )
            )

    def status(self) -> list[dict[str, Any]]:
        return [self._call(url, "/control/weights", None) for url in self.urls]

    def _call(self, url: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"content-type": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{url}{path}", data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s + 30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = str(exc)
            raise CwmError(f"{url}{path}: {exc.code} {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise CwmError(f"{url}{path}: {exc}") from None
