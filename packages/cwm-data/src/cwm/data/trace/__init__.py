"""The CWM Python execution tracer.

from cwm.data.trace import trace_call, trace_batch, TraceConfig, TraceTask, TracePool
"""

from cwm.data.trace.api import Tracer, trace_call, trace_tasks
from cwm.data.trace.backends import BACKENDS, get_backend, has_monitoring, resolve
from cwm.data.trace.batch import BatchSummary, parse_shard, trace_batch
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.recorder import TraceLimit
from cwm.data.trace.reprs import DOTS_REPR, TRUNCATED
from cwm.data.trace.runner import trace_in_process
from cwm.data.trace.task import TraceTask
from cwm.data.trace.workers.pool import TracePool

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
