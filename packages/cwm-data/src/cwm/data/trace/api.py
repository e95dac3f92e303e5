"""The tracer's Python API: trace one call, many tasks, or a tasks file.

    from cwm.data.trace import trace_call
    trace = trace_call("def f(x):\\n    return x + 1\\n", "f(1)")
    trace.outcome, trace.result      # ("returned", "2")

Calls run sandboxed (a worker process, limits, no network) unless
``sandbox=False``, which traces in this interpreter with no isolation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from cwm.core.config import ConfigError
from cwm.core.schemas import Trace
from cwm.data.trace.backends import resolve
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.runner import trace_in_process
from cwm.data.trace.task import TraceTask
from cwm.data.trace.workers.pool import TracePool


def trace_call(
    source: str,
    call: str,
    *,
    config: TraceConfig | None = None,
    sandbox: bool = True,
    id: str = "trace",
    module: str = "snippet",
) -> Trace:
    """Trace ``call`` (e.g. ``"f(1, [2, 3])"``) evaluated in ``source`` run as module ``module``."""
    task = TraceTask(id=id, source=source, call=call, module=module)
    config = config or TraceConfig()
    if not sandbox:
        return trace_in_process(task, config)
    with TracePool(config, workers=1) as pool:
        return pool.trace(task)


def trace_tasks(
    tasks: Iterable[TraceTask], *, config: TraceConfig | None = None, workers: int = 1
) -> Iterator[Trace]:
    """Trace each task in an isolated worker; one Trace per task, in input order."""
    with TracePool(config or TraceConfig(), workers=workers) as pool:
        yield from pool.imap(tasks)


class Tracer:
    """What the ``tracer`` registry creates: a backend with its settings.

    >>> from cwm.core.plugins import registry
    >>> tracer = registry("tracer").create("settrace", max_steps=2000)
    >>> tracer.trace("def f(x):\\n    return x * 2\\n", "f(21)").result
    '42'
    """

    def __init__(self, backend: str, **options: Any):
        self.name = resolve(backend)
        try:
            self.config = msgspec.convert({**options, "backend": self.name}, TraceConfig)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"tracer option: {exc}") from None

    def trace(
        self,
        source: str,
        call: str,
        *,
        id: str = "trace",
        module: str = "snippet",
        sandbox: bool = True,
    ) -> Trace:
        return trace_call(source, call, config=self.config, sandbox=sandbox, id=id, module=module)

    def trace_tasks(self, tasks: Iterable[TraceTask], *, workers: int = 1) -> Iterator[Trace]:
        return trace_tasks(tasks, config=self.config, workers=workers)

    def __repr__(self) -> str:
        return f"Tracer({self.name!r})"
