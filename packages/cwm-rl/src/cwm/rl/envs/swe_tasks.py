"""SWE tasks from data rows: `cwm forage` task files (``tasks.jsonl``) and SWE-bench JSONL
(with an optional ``image`` field: the sandbox image holding the repository at its base commit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from cwm.core.errors import CwmError
from cwm.core.schemas import Task


def task_of(row: Mapping[str, Any], image: str = "") -> Task:
    """A `Task` from a forage task record or a SWE-bench instance; ``image`` (the sandbox
    image holding the repository) replaces the row's, which is machine-specific."""
    try:
        if "instance_id" in row:
            task = Task.from_swebench(dict(row))
            if row.get("image"):  # not a SWE-bench field: ours, beside them
                task = msgspec.structs.replace(task, image=str(row["image"]))
        else:
            task = msgspec.convert({"kind": "task", **row}, Task)
    except (msgspec.ValidationError, KeyError) as exc:
        raise CwmError(
            f"SWE row {row.get('id') or row.get('instance_id') or '?'!r} is neither a `cwm forage` "
            f"task nor a SWE-bench instance: {exc}"
        ) from None
    if image:
        task = msgspec.structs.replace(task, image=image)
    if not task.image:
        raise CwmError(
            f"SWE task {task.id!r} has no sandbox image: set the environment's `image` option "
            "(a Docker image tag, or a local image directory) or its `repo` option"
        )
    return task
