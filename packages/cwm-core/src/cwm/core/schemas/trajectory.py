"""Agentic trajectories: a task, the agent's turns in a sandbox, the patch and its grade."""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec

from cwm.core.schemas.base import Record
from cwm.core.schemas.chat import Message


class ToolCall(msgspec.Struct, frozen=True):
    name: str
    content: str


class Task(Record, tag="task", kw_only=True):
    """A software-engineering task; accepts SWE-bench instances via `from_swebench`."""

    instruction: str  # what the agent is asked to do (an issue text, a failing test)
    family: str = "issue-fix"  # how the task was made: "issue-fix", "mutate-fix", ...
    repo: str = ""
    base_commit: str | None = None
    image: str | None = None  # sandbox image holding the repository and its dependencies
    oracle_patch: str = ""  # a known fix (SWE-bench "patch")
    test_patch: str = ""  # hidden tests, applied only for grading
    test_command: str = ""  # runs the hidden tests; pytest output expected
    fail_to_pass: list[str] = []
    pass_to_pass: list[str] = []
    meta: dict[str, Any] = {}

    @classmethod
    def from_swebench(cls, instance: dict[str, Any]) -> Task:
        """Build a task from a SWE-bench instance record (its test lists may be JSON strings)."""

        def tests(key: str) -> list[str]:
            value = instance.get(key) or []
            return json.loads(value) if isinstance(value, str) else list(value)

        known = {
            "instance_id",
            "problem_statement",
            "repo",
            "base_commit",
            "patch",
            "test_patch",
            "FAIL_TO_PASS",
            "PASS_TO_PASS",
        }
        return cls(
            id=instance["instance_id"],
            instruction=instance["problem_statement"],
            repo=instance.get("repo", ""),
            base_commit=instance.get("base_commit"),
            oracle_patch=instance.get("patch", ""),
            test_patch=instance.get("test_patch", ""),
            fail_to_pass=tests("FAIL_TO_PASS"),
            pass_to_pass=tests("PASS_TO_PASS"),
            meta={k: v for k, v in instance.items() if k not in known},
        )


TestStatus = Literal["passed", "failed", "error", "skipped"]


class TestOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The hidden tests' verdict on a patch."""

    __test__ = False  # not a pytest test class, despite its name

    resolved: bool  # every FAIL_TO_PASS and PASS_TO_PASS test passed
    exit_code: int | None = None  # of the test command
    statuses: dict[str, TestStatus] = {}  # per test id, parsed from the log
    log: str = ""  # tail of the test log
    error: str | None = None  # the patch did not apply, the run timed out, ...


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One step: the agent's reply, the tool call parsed from it, and what came back."""

    action: str  # the assistant's whole reply
    tool_call: ToolCall | None  # None when the reply held no valid call
    observation: Message  # role "tool" with the result, or "user" with a format error
    error: str | None = None  # the format error, when tool_call is None


def chat_of(prompt: list[Message], turns: list[Turn]) -> list[Message]:
    """The prompt, then each turn's reply (as the assistant) and its observation."""
    out = list(prompt)
    for turn in turns:
        out += [Message(role="assistant", content=turn.action), turn.observation]
    return out


class Trajectory(Record, tag="trajectory", kw_only=True):
    task: Task
    prompt: list[Message]  # the system and user messages before the first turn
    turns: list[Turn] = []
    patch: str | None = None  # what the agent submitted
    tests: TestOutcome | None = None
    reward: float | None = None
    policy: str = ""
    finish: str = ""  # "submitted", "max_turns", "token_budget", "time_budget", "error"
    meta: dict[str, Any] = {}

    def messages(self) -> list[Message]:
        """The trajectory as one chat: the prompt, then each reply and its observation."""
        return chat_of(self.prompt, self.turns)
