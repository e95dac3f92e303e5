"""issue-fix tasks from SWE-bench instance records (JSON lines, or a JSON list).

Each record needs SWE-bench's fields (``instance_id``, ``problem_statement``,
``patch``, ``test_patch``, ``FAIL_TO_PASS``, ``PASS_TO_PASS``; ``base_commit``
when the image's repository has that commit). The task runs in ``image`` unless
the record names its own ``image``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgspec

from cwm.core.errors import CwmError
from cwm.core.schemas import Task


def read_swebench(path: str | Path, *, image: str, repo: str = "") -> Iterator[Task]:
    path = Path(path)
    if not path.exists():
        raise CwmError(f"{path}: no such SWE-bench task file")
    text = path.read_text()
    records = (
        json.loads(text)
        if text.lstrip().startswith("[")
        else [json.loads(line) for line in text.splitlines() if line.strip()]
    )
    for n, record in enumerate(records, 1):
        try:
            task = Task.from_swebench(record)
        except (KeyError, ValueError) as exc:
            raise CwmError(f"{path}:{n}: not a SWE-bench instance ({exc})") from None
        yield msgspec.structs.replace(
            task,
            family="issue-fix",
            repo=task.repo or repo,
            image=str(task.meta.get("image") or image),
        )
