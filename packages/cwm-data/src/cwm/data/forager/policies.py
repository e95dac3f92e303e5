"""Policies that drive the SWE environment: a scripted oracle, and any OpenAI-compatible server.

A policy gets the task at the start of an episode and then, each turn, the
chat so far; it returns the assistant's reply as text in CWM's tool format.

- ``oracle``: replays the task's oracle patch through the tools (edit per hunk,
  create for new files), runs the failing tests, writes the patch with git and
  submits it. If an edit is refused it falls back to ``git apply`` in bash. Used
  in tests and to validate tasks end to end.
- ``openai:BASE_URL``: chat completions from a server that speaks the OpenAI API
  (``cwm serve`` or any other), through the official ``openai`` client. When the
  server reports its context (``max_model_len`` in ``/v1/models``, as ``cwm serve``
  and vLLM do), each request's ``max_tokens`` is fitted to the room the chat
  leaves (counted with CWM's tokenizer and chat format: exact for ``cwm serve``);
  a chat that leaves no room raises `ContextFull`, and the episode ends
  ``context``.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator
from typing import Any, Protocol

from cwm.core.envs import FINISH_CONTEXT, fit_max_tokens
from cwm.core.errors import CwmError
from cwm.core.formats.chat import encode_chat
from cwm.core.formats.edit import CreateFile, EditBlock, render_create, render_edit
from cwm.core.formats.tools import render_tool_call
from cwm.core.schemas import Message, Task, ToolCall
from cwm.data.envs.patches import split_files
from cwm.data.openai_server import api_key as key_of
from cwm.data.openai_server import client_errors, openai_module, served_model, server_error

# inside .git: never part of the diff, private to the sandbox, and writable in a container
# whose root filesystem is read-only
PATCH_FILE = ".git/cwm-fix.patch"


class ContextFull(CwmError):
    """The chat no longer leaves room for a reply in the model's context."""

    finish = FINISH_CONTEXT


class Policy(Protocol):
    name: str

    def start(self, task: Task) -> None: ...

    def __call__(self, messages: list[Message]) -> str: ...


def _call(name: str, content: str, before: str = "") -> str:
    return render_tool_call(ToolCall(name, content), before=before)


class OraclePolicy:
    """Replays the oracle fix through the tools, reacting to refused edits."""

    name = "oracle"

    def __init__(self) -> None:
        self._script: Generator[str, Message | None, None] | None = None
        self._replies = 0

    def start(self, task: Task) -> None:
        if not task.oracle_patch.strip():
            raise CwmError(f"task {task.id} has no oracle patch for the oracle policy")
        self._script, self._replies = self._steps(task), 0
        next(self._script)  # prime: the generator now waits for the first observation

    def __call__(self, messages: list[Message]) -> str:
        if self._script is None:
            raise RuntimeError("call start(task) first")
        # the last message is the observation of the previous reply (none before the first)
        last = messages[-1] if self._replies else None
        self._replies += 1
        try:
            return self._script.send(last)
        except StopIteration:
            return "Done."

    def _steps(self, task: Task) -> Generator[str, Message | None, None]:
        yield ""  # priming
        yield _call(
            "bash", "git status --short && git log --oneline -1", "Let me look at the repository.\n"
        )
        fallback = False
        for f in split_files(task.oracle_patch):
            if f.target is None:
                yield _call("bash", f"git rm -q {shlex.quote(f.source or '')}")
                continue
            if f.source is None:
                content = "\n".join(h.new for h in f.hunks)
                obs = yield _call("create", render_create(CreateFile(f.target, content + "\n")))
                fallback |= not _ok(obs)
                continue
            for hunk in f.hunks:
                obs = yield _call(
                    "edit",
                    render_edit(EditBlock(f.target, hunk.old, hunk.new)),
                    f"Fixing {f.target}.\n",
                )
                if not _ok(obs):
                    fallback = True
                    break
            if fallback:
                break
        if fallback:  # an edit was refused: apply the whole patch with git instead
            eof = "CWM_ORACLE_PATCH"
            yield _call(
                "bash",
                f"git checkout -q -- . && git apply <<'{eof}'\n{task.oracle_patch.rstrip()}\n{eof}",
            )
        # the failing tests, unless they arrive with the hidden test patch (issue-fix)
        check = task.pass_to_pass if task.test_patch else task.fail_to_pass
        if check:
            tests = " ".join(map(shlex.quote, check[:20]))
            yield _call(
                "bash", f"python -m pytest -q -p no:cacheprovider {tests}", "Running the tests.\n"
            )
        yield _call(
            "bash", f"git add -A && git diff --cached > {PATCH_FILE} && head -c 200 {PATCH_FILE}"
        )
        yield _call("submit", PATCH_FILE)
        yield "The fix is submitted: the failing tests pass again."


def _ok(obs: Message | None) -> bool:
    """Whether an edit/create observation reports success."""
    return (
        obs is not None
        and obs.role == "tool"
        and obs.content.startswith(("<output>\nEdited", "<output>\nCreated"))
    )


class OpenAIPolicy:
    """Replies from ``/v1/chat/completions`` of an OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 4096,
        observation_role: str = "tool",  # or "user", for servers that refuse tool messages
        timeout: float = 600.0,
    ):
        openai = openai_module()
        self.client = openai.OpenAI(base_url=base_url, timeout=timeout, api_key=key_of(api_key))
        self.base_url, self.model, self.key = base_url, model, api_key
        self.temperature, self.max_tokens = temperature, max_tokens
        self.observation_role = observation_role
        self.name = f"openai:{base_url}"
        self.context_len: int | None = None  # from /v1/models, when the server reports it
        self._tokenizer: Any = None
        self._listed = False

    def start(self, task: Task) -> None:
        if self._listed:
            return
        self.model, self.context_len = served_model(self.base_url, model=self.model, key=self.key)
        self._listed = True

    def max_tokens_for(self, messages: list[Message]) -> int:
        """``max_tokens`` shrunk to the room the chat leaves in the server's context."""
        if self.context_len is None:
            return self.max_tokens
        if self._tokenizer is None:
            from cwm.core.tokenizer import Tokenizer

            self._tokenizer = Tokenizer()
        sent = [self._as_sent(m) for m in messages]
        used = len(encode_chat(self._tokenizer, sent, generation_prompt=True))
        room = fit_max_tokens(self.max_tokens, used, self.context_len)
        if room < 1:
            raise ContextFull(
                f"the chat has {used} tokens and the model's context is {self.context_len}"
            )
        return room

    def _as_sent(self, m: Message) -> Message:
        if m.role == "tool" and self.observation_role == "user":
            return Message(role="user", content=f"[{m.tool} output]\n{m.content}")
        return m

    def _message(self, m: Message) -> dict[str, Any]:
        m = self._as_sent(m)
        if m.role != "tool":
            return {"role": m.role, "content": m.content}
        return {"role": "tool", "name": m.tool, "tool_call_id": m.tool, "content": m.content}

    def __call__(self, messages: list[Message]) -> str:
        try:
            response = self.client.chat.completions.create(
                model=self.model or "",
                messages=[self._message(m) for m in messages],  # type: ignore[misc]
                temperature=self.temperature,
                max_tokens=self.max_tokens_for(messages),
            )
        except client_errors() as exc:
            raise server_error(self.base_url, exc) from None
        return response.choices[0].message.content or ""


def make_policy(spec: str, **options: Any) -> Policy:
    """``oracle`` or ``openai:BASE_URL``."""
    if spec == "oracle":
        return OraclePolicy()
    if spec.startswith("openai:"):
        return OpenAIPolicy(spec.removeprefix("openai:"), **options)
    raise CwmError(f"unknown policy {spec!r}; use oracle or openai:BASE_URL")
