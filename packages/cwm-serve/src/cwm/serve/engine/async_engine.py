"""The engine on a thread of its own, for asyncio callers (the HTTP server).

One thread owns the `LLMEngine` and runs its step loop; the event loop hands it
commands (add, abort, update weights) through a queue and receives each step's
outputs on a per-request asyncio queue. A caller that stops listening (a client
that disconnected) aborts its request, which frees its blocks before the next step.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from cwm.core.errors import CwmError
from cwm.serve.engine.llm_engine import LLMEngine
from cwm.serve.engine.outputs import RequestOutput
from cwm.serve.engine.sampling_params import SamplingParams


class EngineDead(RuntimeError):
    pass


class AsyncEngine:
    def __init__(self, engine: LLMEngine):
        self.engine = engine
        self.commands: queue.SimpleQueue[Callable[[], Any]] = queue.SimpleQueue()
        self.streams: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]] = {}
        self.error: BaseException | None = None
        self._ids = itertools.count()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="cwm-engine", daemon=True)
        self.thread.start()

    # -- the engine thread -------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_commands(block=not self.engine.has_unfinished())
                if self.engine.has_unfinished():
                    for out in self.engine.step():
                        self._deliver(out.request_id, out)
            except BaseException as exc:  # a bug: fail every request rather than hang them
                self.error = exc
                for request_id in list(self.streams):
                    self._deliver(request_id, exc)
                return

    def _run_commands(self, *, block: bool) -> None:
        try:
            command = self.commands.get(timeout=0.1) if block else self.commands.get_nowait()
        except queue.Empty:
            return
        command()
        while True:
            try:
                self.commands.get_nowait()()
            except queue.Empty:
                return

    def _add(self, request_id: str, prompt: list[int], params: SamplingParams) -> None:
        try:
            self.engine.add_request(request_id, prompt, params)
        except Exception as exc:  # refused: that request fails, the engine goes on
            self._deliver(request_id, exc)

    def _deliver(self, request_id: str, item: Any) -> None:
        target = self.streams.get(request_id)
        if target is not None:
            loop, q = target
            loop.call_soon_threadsafe(q.put_nowait, item)

    # -- the caller's side -------------------------------------------------------

    async def call(self, fn: Callable[[LLMEngine], Any]) -> Any:
        """Run ``fn(engine)`` on the engine thread between two steps; return its result."""
        self._check()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()

        def run() -> None:
            try:
                result = fn(self.engine)
            except BaseException as exc:
                loop.call_soon_threadsafe(_settle, done, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, done, result, None)

        self.commands.put(run)
        return await done

    async def generate(
        self, prompt: list[int], params: SamplingParams, request_id: str | None = None
    ) -> AsyncIterator[RequestOutput]:
        """Stream a request's outputs step by step; closing the iterator early aborts it."""
        self._check()
        self.engine.check(prompt, params)  # a bad request fails here, in the caller
        request_id = request_id or f"cmpl-{next(self._ids)}"
        q: asyncio.Queue[Any] = asyncio.Queue()
        self.streams[request_id] = (asyncio.get_running_loop(), q)
        self.commands.put(lambda: self._add(request_id, prompt, params))
        finished = False
        try:
            while not finished:
                item = await q.get()
                if isinstance(item, CwmError):
                    raise item
                if isinstance(item, BaseException):
                    raise EngineDead(f"the engine stopped: {item!r}") from item
                finished = item.finished
                yield item
        finally:
            del self.streams[request_id]
            if not finished:
                self.commands.put(lambda: self.engine.abort(request_id))

    def _check(self) -> None:
        if self.error is not None:
            raise EngineDead(f"the engine stopped: {self.error!r}")

    def shutdown(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
