"""Helpers shared by the tracer and dataset tests."""

from __future__ import annotations

import re
import textwrap

import msgspec

from cwm.core.formats.trace import TraceText, parse_trace, render_trace
from cwm.core.schemas import Trace

ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def normalized(obj: object) -> str:
    """JSON of a record with memory addresses blanked (they differ between runs)."""
    return ADDRESS.sub("0x?", msgspec.json.encode(obj).decode())


def assert_consistent(trace: Trace) -> None:
    """What every trace must satisfy: it round-trips, and each frame's line is its source line."""
    assert parse_trace(render_trace(trace)) == TraceText.of(trace)
    lines = trace.source.split("\n")
    for frame in trace.frames:
        if frame.lineno is not None:
            assert frame.line == lines[frame.lineno - 1], frame
