"""Compiled task sources, kept in the worker so every forked task process inherits them.

A corpus traces several calls of one source; compiling it once in the worker,
before the fork, saves each task process the work. Compiling runs none of the
task's code; a source that does not compile is left to the task process, which
reports it as the task's ``invalid`` outcome.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from types import CodeType

from cwm.data.trace.target import compile_source, normalize_source, task_filename
from cwm.data.trace.task import TraceTask

_KEPT = 64  # sources: enough for the calls of one function to arrive close together


class CodeCache:
    def __init__(self) -> None:
        self._codes: OrderedDict[tuple[str, str], CodeType] = OrderedDict()

    def get(self, task: TraceTask) -> CodeType:
        """The task's compiled source; `InvalidTask` when it does not compile."""
        key = (normalize_source(task.source), task.module)
        found = self._codes.get(key)
        if found is None:
            found = self._codes[key] = compile_source(key[0], task_filename(task.module))
            if len(self._codes) > _KEPT:
                self._codes.popitem(last=False)
        else:
            self._codes.move_to_end(key)
        return found

    def warm(self, task: TraceTask) -> None:
        """Compile ahead of a fork; a failure is the task process's to report."""
        with contextlib.suppress(Exception):  # InvalidTask or what compile() itself raised
            self.get(task)
