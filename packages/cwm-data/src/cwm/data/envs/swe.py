"""The SWE environment: one task, one sandbox, CWM's tools, one tool call per turn.

    env = SWEEnv(task, backend)
    messages = env.reset()                  # system + user prompt
    while True:
        step = env.step(policy(messages + ...))
        if step.done: break
    trajectory = env.finish(policy="oracle")   # grades the last submission

A reply that holds no valid tool call (or an unknown tool) is answered with a
``user`` message naming the mistake, never an exception; once the agent has
submitted, a reply without a tool call ends the episode. Turns, tokens and
time are budgeted and the remaining budget ends every observation.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from cwm.core.config import AtLeast1, Config, Positive
from cwm.core.formats.chat import split_reasoning, system_prompt
from cwm.core.formats.tools import NoToolCall, ToolFormatError, split_tool_call
from cwm.core.schemas import Message, Task, TestOutcome, Trajectory, Turn
from cwm.core.schemas.trajectory import chat_of
from cwm.core.tokenizer import Tokenizer
from cwm.data.envs import prompts
from cwm.data.envs.grading import grade, set_up_task
from cwm.data.envs.tools import toolbox
from cwm.data.sandbox.base import Sandbox, SandboxBackend


class SWEConfig(Config, frozen=True, kw_only=True):
    max_turns: AtLeast1 = 128
    max_tokens: AtLeast1 = 131_072  # context budget: prompt, replies and observations
    time_budget: Positive = 3600.0  # seconds of wall time for the episode
    command_timeout: Positive = 60.0  # per bash command; the session restarts after it
    max_output: AtLeast1 = 100_000  # bytes of command output kept (head and tail)
    test_timeout: Positive = 600.0  # for the hidden tests at grading
    reasoning: bool = False  # replies start with <think> ... </think>


class Step(msgspec.Struct, frozen=True, kw_only=True):
    turn: Turn
    done: bool
    finish: str = ""  # why the episode ended, when done


class SWEEnv:
    def __init__(
        self,
        task: Task,
        backend: SandboxBackend,
        config: SWEConfig | None = None,
        tokenizer: Tokenizer | None = None,
    ):
        if not task.image:
            raise ValueError(f"task {task.id} has no image")
        self.task, self.backend = task, backend
        self.config = config or SWEConfig()
        self.tok = tokenizer or Tokenizer()
        self.box: Sandbox | None = None
        self.prompt: list[Message] = []
        self.turns: list[Turn] = []
        self.submission: str | None = None
        self.tokens = 0
        self.finish_reason = ""
        self._started = 0.0

    # --- episode ---------------------------------------------------------------------

    def reset(self) -> list[Message]:
        """Start a sandbox in the task's starting state; returns the prompt messages."""
        self.close()
        cfg = self.config
        self.box = self.backend.start(self.task.image or "")
        self.box.session_options = {"timeout": cfg.command_timeout, "max_output": cfg.max_output}
        if error := set_up_task(self.box, self.task):
            raise RuntimeError(f"task {self.task.id}: {error}")
        environment = prompts.ENVIRONMENT.format(
            command_timeout=cfg.command_timeout,
            max_turns=cfg.max_turns,
            max_tokens=cfg.max_tokens,
            time_budget=cfg.time_budget,
        )
        self.prompt = [
            Message(
                role="system",
                content=system_prompt(reasoning=cfg.reasoning, environment=environment),
            ),
            Message(role="user", content=prompts.task_prompt(self.task, self.box.workdir)),
        ]
        self.turns, self.submission, self.finish_reason = [], None, ""
        self.tokens = sum(len(self.tok.encode(m.content)) for m in self.prompt)
        self._started = time.monotonic()
        self._tools = toolbox(self.box)
        return list(self.prompt)

    def messages(self) -> list[Message]:
        return chat_of(self.prompt, self.turns)

    def step(self, reply: str) -> Step:
        """Act on one assistant reply and return the turn it made."""
        if self.box is None or self.finish_reason:
            raise RuntimeError("call reset() before step(), and not after the episode ended")
        answer = split_reasoning(reply)[1] if self.config.reasoning else reply
        try:
            _, call, _ = split_tool_call(answer)
        except NoToolCall as exc:
            if self.submission is not None:  # the final response after a submission
                return self._record(
                    reply,
                    None,
                    Message(role="user", content="The episode has ended."),
                    None,
                    finish="submitted",
                )
            return self._format_error(reply, exc)
        except ToolFormatError as exc:
            return self._format_error(reply, exc)
        if call.name not in self._tools:
            return self._format_error(
                reply,
                ToolFormatError(
                    f"unknown tool {call.name!r}; the tools are {', '.join(self._tools)}"
                ),
            )
        result = self._tools[call.name](call.content)
        if result.submission is not None:
            self.submission = result.submission
        content = f"<output>\n{result.output}\n</output>"
        return self._record(
            reply, call, Message(role="tool", tool=call.name, content=content), None
        )

    def _format_error(self, reply: str, exc: Exception) -> Step:
        text = f"{type(exc).__name__}: {exc}"
        return self._record(reply, None, Message(role="user", content=text), text)

    def _record(
        self, reply: str, call: Any, observation: Message, error: str | None, finish: str = ""
    ) -> Step:
        cfg = self.config
        self.tokens += len(self.tok.encode(reply)) + len(self.tok.encode(observation.content))
        elapsed = time.monotonic() - self._started
        n = len(self.turns) + 1
        if not finish:
            if n >= cfg.max_turns:
                finish = "max_turns"
            elif self.tokens >= cfg.max_tokens:
                finish = "token_budget"
            elif elapsed >= cfg.time_budget:
                finish = "time_budget"
        if not finish:  # tell the agent what is left
            budget = prompts.BUDGET.format(
                turns=cfg.max_turns - n,
                tokens=cfg.max_tokens - self.tokens,
                seconds=int(cfg.time_budget - elapsed),
            )
            observation = msgspec.structs.replace(
                observation, content=f"{observation.content}\n\n{budget}"
            )
        turn = Turn(action=reply, tool_call=call, observation=observation, error=error)
        self.turns.append(turn)
        self.finish_reason = finish
        return Step(turn=turn, done=bool(finish), finish=finish)

    # --- grading -----------------------------------------------------------------------

    def grade(self, patch: str | None = None) -> TestOutcome:
        """The hidden tests' verdict on ``patch`` (default: the last submission), in a fresh sandbox."""
        patch = self.submission if patch is None else patch
        if not patch:
            return TestOutcome(resolved=False, error="no patch was submitted")
        return grade(
            self.task,
            patch,
            lambda: self.backend.start(self.task.image or ""),
            timeout=self.config.test_timeout,
        )

    def finish(self, *, policy: str = "", meta: dict[str, Any] | None = None) -> Trajectory:
        """Close the sandbox, grade the submission and return the whole trajectory."""
        self.close()
        tests = self.grade()
        return Trajectory(
            id=f"{self.task.id}:{policy}:{int(time.time() * 1000)}",
            task=self.task,
            prompt=self.prompt,
            turns=self.turns,
            patch=self.submission,
            tests=tests,
            policy=policy,
            finish=self.finish_reason or "error",
            meta={"tokens": self.tokens, **(meta or {})},
        )

    def close(self) -> None:
        if self.box is not None:
            self.box.close()
            self.box = None
