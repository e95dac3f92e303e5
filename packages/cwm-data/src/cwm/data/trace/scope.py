"""Which code a trace records: the traced source, or only the entry, plus include globs."""

from __future__ import annotations

from fnmatch import fnmatchcase
from types import CodeType, FrameType
from typing import Any

from cwm.data.trace.config import Scope


class ScopeView:
    """Decides, once per code object, whether its activations become trace scopes.

    Code of the traced source is code with its file name running in its module
    (``globals_``, when given): a generator left over from an earlier task of the
    same module name, finalized during this trace, is not part of it.
    """

    def __init__(
        self,
        filename: str,
        scope: Scope = "source",
        include: list[str] | None = None,
        globals_: dict[str, Any] | None = None,
    ):
        self.filename, self.scope, self.include = filename, scope, list(include or [])
        self.globals = globals_
        self._seen: dict[int, tuple[CodeType, bool]] = {}  # by identity: equal code may differ

    @property
    def entry_only(self) -> bool:
        return self.scope == "entry"

    def wants(self, code: CodeType, frame: FrameType | None = None) -> bool:
        """Whether activations of ``code`` (other than the entry's) are recorded."""
        seen = self._seen.get(id(code))
        if seen is None:
            seen = self._seen[id(code)] = (code, not self.entry_only and self._decide(code, frame))
        return seen[1]

    def _decide(self, code: CodeType, frame: FrameType | None) -> bool:
        if code.co_filename == self.filename:
            return frame is None or self.globals is None or frame.f_globals is self.globals
        if not self.include:
            return False
        module = frame.f_globals.get("__name__", "") if frame is not None else ""
        names = (f"{module}.{code.co_qualname}", code.co_filename)
        return any(fnmatchcase(name, pattern) for name in names for pattern in self.include)
