"""Chat messages and chat records (SFT data)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from cwm.core.schemas.base import Record

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


class Message(msgspec.Struct, frozen=True, kw_only=True):
    role: Role
    content: str
    tool: str | None = None  # the tool's name, for role "tool"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")
        if (self.role == "tool") != bool(self.tool):
            raise ValueError(
                "a message has a (non-empty) tool name exactly when its role is 'tool'"
            )

    @property
    def header(self) -> str:
        """The role as the chat format writes it: ``tool: NAME`` for tool results."""
        return f"tool: {self.tool}" if self.role == "tool" else self.role


class Chat(Record, tag="chat", kw_only=True):
    messages: list[Message]
    reasoning: bool = False  # the system prompt asks for <think> ... </think>
    meta: dict[str, Any] = {}
