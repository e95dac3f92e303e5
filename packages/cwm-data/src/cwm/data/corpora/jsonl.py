"""The ``jsonl`` corpus: tasks from a file in the `cwm trace batch` format."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from cwm.core.errors import CwmError
from cwm.core.schemas import Trace
from cwm.data.trace.runner import invalid_trace
from cwm.data.trace.task import TraceTask


def function_name(task: TraceTask) -> str:
    """``module.function`` of the call (``module.Class.method`` for ``Class(...).method(...)``)."""
    try:
        func = ast.parse(task.call, mode="eval").body.func  # type: ignore[attr-defined]
        while isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
            func = ast.Attribute(value=func.value.func, attr=func.attr)
        return f"{task.module}.{ast.unparse(func)}"
    except (SyntaxError, AttributeError):
        return f"{task.module}.?"


@dataclass
class JsonlCorpus:
    path: Path

    @property
    def name(self) -> str:
        return f"jsonl:{self.path.name}"

    def tasks(self) -> Iterator[TraceTask | Trace]:
        if not self.path.is_file():
            raise CwmError(f"jsonl corpus: {self.path} is not a file")
        decode = msgspec.json.Decoder(TraceTask).decode
        with open(self.path, "rb") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    task = decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    bad = TraceTask(id=f"{self.path.name}:{lineno}", source="", call="")
                    yield invalid_trace(bad, f"{self.path}:{lineno}: not a task: {exc}")
                    continue
                meta = {
                    "function": function_name(task),
                    "corpus": self.name,
                    "inputs": "jsonl",
                    **task.meta,
                }
                yield msgspec.structs.replace(task, meta=meta)
