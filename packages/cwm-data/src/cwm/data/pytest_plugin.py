"""A pytest plugin that traces chosen functions while a real test suite runs.

    pytest -p cwm.data.pytest_plugin --cwm-trace "mypkg.*" --cwm-trace-out traces.jsonl

``--cwm-trace GLOB`` (repeatable) chooses functions by ``module.qualname`` or by
file path; a GLOB starting with ``!`` excludes. Each call of a chosen function
made while a test runs (its call phase, not fixtures) becomes one Trace record
in ``--cwm-trace-out``, up to ``--cwm-trace-max`` per function. The plugin uses
sys.settrace, so it does not combine with coverage measurement in the same run.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from types import CodeType, FrameType
from typing import Any

import pytest

from cwm.core.config import load_config
from cwm.core.io import Appender
from cwm.core.schemas import Trace
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.watcher import Watcher


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("cwm", "CWM execution traces")
    group.addoption(
        "--cwm-trace",
        action="append",
        default=[],
        metavar="GLOB",
        help="trace calls of functions matching GLOB (module.qualname or file path; !GLOB excludes)",
    )
    group.addoption(
        "--cwm-trace-out",
        default="cwm-traces.jsonl",
        metavar="PATH",
        help="JSONL file the traces are appended to",
    )
    group.addoption(
        "--cwm-trace-max", type=int, default=20, metavar="N", help="traces per function at most"
    )
    group.addoption(
        "--cwm-trace-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a tracer setting, e.g. max_steps=2000 (repeatable)",
    )


def matcher(globs: list[str]) -> Any:
    include = [g for g in globs if not g.startswith("!")]
    exclude = [g[1:] for g in globs if g.startswith("!")]

    def wanted(code: CodeType, frame: FrameType) -> bool:
        names = (f"{frame.f_globals.get('__name__', '')}.{code.co_qualname}", code.co_filename)
        if not any(fnmatchcase(n, g) for n in names for g in include):
            return False
        return not any(fnmatchcase(n, g) for n in names for g in exclude)

    return wanted


class CwmTracing:
    def __init__(self, globs: list[str], out: str, max_per_function: int, config: TraceConfig):
        self.appender = Appender(out)
        self.written = 0
        self.watcher = Watcher(matcher(globs), self._emit, config, max_per_function)

    def _emit(self, trace: Trace) -> None:
        self.appender.write(trace)
        self.written += 1

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: Any) -> Iterator[None]:
        self.watcher.context = item.nodeid
        self.watcher.start()
        try:
            yield
        finally:
            self.watcher.stop()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(f"cwm: wrote {self.written} traces to {self.appender.path}")

    def pytest_unconfigure(self, config: Any) -> None:
        self.appender.close()


def pytest_configure(config: Any) -> None:
    globs = config.getoption("cwm_trace")
    if globs:
        settings = load_config(TraceConfig, None, config.getoption("cwm_trace_set"))
        tracing = CwmTracing(
            globs, config.getoption("cwm_trace_out"), config.getoption("cwm_trace_max"), settings
        )
        config.pluginmanager.register(tracing, "cwm-tracing")
