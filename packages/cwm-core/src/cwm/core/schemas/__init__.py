"""The records CWM packages exchange, as msgspec Structs.

Every persisted record is a tagged `Record` (``"kind": "trace"``, ...) with a
``schema_version``; `AnyRecord` decodes any of them. Read and write them with
`cwm.core.io`.
"""

from cwm.core.schemas.base import SCHEMA_VERSION, Record
from cwm.core.schemas.chat import ROLES, Chat, Message, Role
from cwm.core.schemas.document import Document
from cwm.core.schemas.episode import Episode
from cwm.core.schemas.trace import (
    EVENTS,
    UNCHANGED,
    AnyFrame,
    CallFrame,
    ExceptionFrame,
    Frame,
    LineFrame,
    Outcome,
    ReturnFrame,
    Trace,
    without_linenos,
)
from cwm.core.schemas.trajectory import Task, TestOutcome, TestStatus, ToolCall, Trajectory, Turn

AnyRecord = Trace | Trajectory | Task | Document | Chat | Episode

__all__ = [
    "EVENTS",
    "ROLES",
    "SCHEMA_VERSION",
    "UNCHANGED",
    "AnyFrame",
    "AnyRecord",
    "CallFrame",
    "Chat",
    "Document",
    "Episode",
    "ExceptionFrame",
    "Frame",
    "LineFrame",
    "Message",
    "Outcome",
    "Record",
    "ReturnFrame",
    "Role",
    "Task",
    "TestOutcome",
    "TestStatus",
    "ToolCall",
    "Trace",
    "Trajectory",
    "Turn",
    "without_linenos",
]
