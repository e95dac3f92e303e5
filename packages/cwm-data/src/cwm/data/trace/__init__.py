"""The CWM Python execution tracer.

from cwm.data.trace import trace_call, trace_batch, TraceConfig, TraceTask, TracePool

The names load on first use: a trace worker imports only the tracer's own
modules, which keeps it small and so every fork of it cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cwm.data.trace.api import Tracer, trace_call, trace_tasks
    from cwm.data.trace.backends import BACKENDS, get_backend, has_monitoring, resolve
    from cwm.data.trace.batch import BatchSummary, parse_shard, trace_batch
    from cwm.data.trace.config import TraceConfig
    from cwm.data.trace.recorder import TraceLimit
    from cwm.data.trace.reprs import DOTS_REPR, TRUNCATED
    from cwm.data.trace.runner import trace_in_process
    from cwm.data.trace.task import TraceTask
    from cwm.data.trace.workers.pool import TracePool

_HOMES = {
    "api": ["Tracer", "trace_call", "trace_tasks"],
    "backends": ["BACKENDS", "get_backend", "has_monitoring", "resolve"],
    "batch": ["BatchSummary", "parse_shard", "trace_batch"],
    "config": ["TraceConfig"],
    "recorder": ["TraceLimit"],
    "reprs": ["DOTS_REPR", "TRUNCATED"],
    "runner": ["trace_in_process"],
    "task": ["TraceTask"],
    "workers.pool": ["TracePool"],
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "BACKENDS",
    "DOTS_REPR",
    "TRUNCATED",
    "BatchSummary",
    "TraceConfig",
    "TraceLimit",
    "TracePool",
    "TraceTask",
    "Tracer",
    "get_backend",
    "has_monitoring",
    "parse_shard",
    "resolve",
    "trace_batch",
    "trace_call",
    "trace_in_process",
    "trace_tasks",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
