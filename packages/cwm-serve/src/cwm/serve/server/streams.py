"""What every endpoint shares: running requests on the engine, SSE, disconnects."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from cwm.serve.engine import SamplingParams
from cwm.serve.engine.async_engine import AsyncEngine
from cwm.serve.engine.outputs import CompletionOutput

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its response was ready."""


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def sse(payload: Any) -> bytes:
    return b"data: " + msgspec.json.encode(payload) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


async def choices_of(
    engine: AsyncEngine, prompt: list[int], params: SamplingParams
) -> list[CompletionOutput]:
    """Run one prompt to the end: its choices' last outputs, with text accumulated from the
    deltas (so stop strings are honoured exactly as when streaming)."""
    last: dict[int, CompletionOutput] = {}
    texts: dict[int, str] = {}
    async for out in engine.generate(prompt, params):
        for c in out.outputs:
            texts[c.index] = texts.get(c.index, "") + c.delta_text
            last[c.index] = c
    for i, c in last.items():
        c.text = texts[i]
    return [last[i] for i in sorted(last)]


async def merged(
    engine: AsyncEngine, prompts: list[list[int]], params: SamplingParams
) -> AsyncIterator[tuple[int, CompletionOutput]]:
    """Stream several prompts at once: (prompt index, choice output) as they come.
    Closing this iterator aborts the requests still running."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def pump(i: int, prompt: list[int]) -> None:
        try:
            async for out in engine.generate(prompt, params):
                for c in out.outputs:
                    await queue.put((i, c))
        except Exception as exc:
            await queue.put(exc)
        finally:
            await queue.put(None)

    tasks = [asyncio.ensure_future(pump(i, p)) for i, p in enumerate(prompts)]
    running = len(tasks)
    try:
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield item
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``; if the client goes away first, cancel it (which aborts its requests,
    freeing their blocks) and raise `ClientGone`."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        watcher.cancel()
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise ClientGone()


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
