"""Tracer backends: how interpreter events reach the `Recorder`.

``settrace`` (sys.settrace, any Python 3.11+) and ``monitoring`` (sys.monitoring,
PEP 669, Python 3.12+) produce identical frames for the same run; ``auto`` picks
``monitoring`` where it exists.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol

from cwm.core.errors import CwmError
from cwm.data.trace.recorder import Recorder

BACKENDS = ("settrace", "monitoring")


class Backend(Protocol):
    name: str

    def run(
        self,
        recorder: Recorder,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Call ``fn(*args, **kwargs)`` with events going to ``recorder``; return its value."""


def has_monitoring() -> bool:
    return sys.version_info >= (3, 12)


def resolve(name: str) -> str:
    """The backend a name means: ``auto`` becomes ``monitoring`` on 3.12+, else ``settrace``."""
    if name == "auto":
        return "monitoring" if has_monitoring() else "settrace"
    if name not in BACKENDS:
        raise CwmError(f"unknown tracer backend {name!r}; choose auto, {', '.join(BACKENDS)}")
    if name == "monitoring" and not has_monitoring():
        raise CwmError(
            "the monitoring tracer needs Python 3.12+ (sys.monitoring); "
            f"this is {sys.version.split()[0]}: use the settrace tracer"
        )
    return name


_INSTANCES: dict[str, Backend] = {}


def get_backend(name: str = "auto") -> Backend:
    """The backend called ``name`` (backends keep no state between runs, so one serves all)."""
    name = resolve(name)
    if name not in _INSTANCES:
        if name == "monitoring":
            from cwm.data.trace.backends.monitoring import MonitoringBackend

            _INSTANCES[name] = MonitoringBackend()
        else:
            from cwm.data.trace.backends.settrace import SettraceBackend

            _INSTANCES[name] = SettraceBackend()
    return _INSTANCES[name]
