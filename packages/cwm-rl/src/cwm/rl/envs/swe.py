"""``swe``: cwm-data's SWE environment (bash, edit, create, submit) as token-level episodes.

Each turn the model writes one assistant reply in CWM's chat format; the
observation is the tool's result turn (``tool: NAME``), or a ``user`` turn naming
the mistake for a reply without a valid tool call (never an exception), then the
next assistant header. The episode ends when the agent replies without a tool
call after submitting (terminal, finish ``submitted``), at the turn cap (finish
``turns``), when the context is full (finish ``context``) or past the time budget
(finish ``deadline``). The last submission is then graded by the hidden tests in
a fresh sandbox, also when the harness's own limits end the episode (``finish``).

What the policy sees: the task's instruction and its tools' results. Hidden: the
oracle patch and the hidden tests. Outcomes: ``pass`` (the hidden tests resolve
the task), ``submitted``, ``patch_similarity`` (to the oracle patch, as CWM's reward
shapes it), ``format_errors`` (replies without a valid tool call), ``turns``.
The submitted patch is in the last transition's ``info["patch"]``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from cwm.core.config import Config, convert_config
from cwm.core.envs import FINISH_CONTEXT, FINISH_DEADLINE, FINISH_TURNS, Env, Transition
from cwm.core.errors import CwmError
from cwm.core.schemas import Task
from cwm.core.tokenizer import Tokenizer
from cwm.data.envs.swe import SWEConfig, SWEEnv
from cwm.data.sandbox import open_backend, prepare_repo
from cwm.data.sandbox.base import SandboxBackend
from cwm.rl.envs.chat_turns import ChatTurns, load_tokenizer
from cwm.rl.envs.swe_tasks import task_of
from cwm.rl.rewards.similarity import mean_similarity

#: cwm-data's reasons an episode ended, as the environment API names them
FINISHES = {
    "max_turns": FINISH_TURNS,
    "token_budget": FINISH_CONTEXT,
    "time_budget": FINISH_DEADLINE,
}
EOF_MARK = "CWM_ORACLE_PATCH"


class SweConfig(Config, frozen=True, kw_only=True):
    sandbox: str = "auto"  # docker when an engine runs, else local
    image: str = ""  # the image for every row (else each row's own)
    repo: str = ""  # or: build the image from this repository (a directory or an sdist spec)
    max_turns: int = 128
    context: int = 131_072  # tokens of prompt, replies and observations
    time_budget: float = 3600.0  # seconds per episode
    command_timeout: float = 60.0  # per bash command
    max_output: int = 100_000  # bytes of command output kept
    test_timeout: float = 600.0  # for the hidden tests
    reasoning: bool = False  # replies start with <think> ... </think>


class SweState:
    def __init__(self, agent: SWEEnv, tokens: int):
        self.agent, self.tokens, self.format_errors, self.over = agent, tokens, 0, False

    def close(self) -> None:
        self.agent.close()


class SweEnv(Env):
    name = "swe"
    agent_class: type[SWEEnv] = SWEEnv

    def __init__(
        self, config: SweConfig, tokenizer: Tokenizer, backend: SandboxBackend | None = None
    ):
        self.config = config
        self.tok = tokenizer
        self.chat = ChatTurns(tokenizer, reasoning=config.reasoning)
        self.backend: SandboxBackend = backend or open_backend(config.sandbox)
        self.image = config.image
        if config.repo and not self.image:
            self.image = self.backend.build_repo_image(prepare_repo(config.repo))

    def agent_config(self) -> SWEConfig:
        c = self.config
        return SWEConfig(
            max_turns=c.max_turns,
            max_tokens=c.context,
            time_budget=c.time_budget,
            command_timeout=c.command_timeout,
            max_output=c.max_output,
            test_timeout=c.test_timeout,
            reasoning=c.reasoning,
        )

    def start(self, row: Mapping[str, Any]) -> tuple[SweState, Transition]:
        task = task_of(row, self.image)
        agent = self.agent_class(task, self.backend, self.agent_config(), self.tok)
        try:
            messages = agent.reset()
        except RuntimeError as exc:  # the task's starting state cannot be made
            agent.close()
            raise CwmError(f"{exc}; check the task file and its image") from None
        prompt = self.chat.prompt(messages)
        return SweState(agent, len(prompt)), Transition(observation=prompt)

    def step(self, state: SweState, action: Sequence[int]) -> Transition:  # type: ignore[override]
        if state.over:
            raise RuntimeError("the episode has ended; start a new one")
        step = state.agent.step(self.chat.reply(action))
        state.format_errors += step.turn.error is not None
        observation = self.chat.observation(action, step.turn.observation)
        state.tokens += len(action) + len(observation)
        finish = FINISHES.get(step.finish, step.finish)
        if not finish and state.tokens >= self.config.context:
            finish = FINISH_CONTEXT
        if not finish:
            return Transition(observation=observation)
        outcomes, info = self.end(state)
        return Transition(
            observation=[] if self.chat.closed(action) else [self.chat.eot],
            terminal=finish == "submitted",
            truncated=finish != "submitted",
            finish=finish,
            outcomes=outcomes,
            info=info,
        )

    def finish(self, state: SweState, reason: str) -> Transition:  # type: ignore[override]
        """The harness ended the episode (its turn cap, the model's context, the deadline):
        the last submission is graded as when the agent's own limits end it."""
        if state.over:
            return Transition(truncated=True, finish=reason)
        outcomes, info = self.end(state)
        return Transition(truncated=True, finish=reason, outcomes=outcomes, info=info)

    def end(self, state: SweState) -> tuple[dict[str, Any], dict[str, Any]]:
        """Close the episode's sandbox and grade its last submission, once."""
        state.over = True
        state.agent.close()
        return self.grade(state)

    def grade(self, state: SweState) -> tuple[dict[str, Any], dict[str, Any]]:
        agent = state.agent
        patch = agent.submission or ""
        tests = agent.grade() if patch else None
        similarity = mean_similarity(patch, agent.task.oracle_patch) if patch else None
        outcomes = {
            "pass": bool(tests and tests.resolved),
            "submitted": bool(patch),
            "patch_similarity": similarity or 0.0,
            "format_errors": state.format_errors,
            "turns": len(agent.turns),
        }
        info = {"patch": patch, "tests_error": tests.error if tests else None}
        return outcomes, {**info, "sandbox": self.backend.name}

    def reference(self, state: SweState) -> list[list[int]]:  # type: ignore[override]
        return self.replay(state, state.agent.task.oracle_patch, "oracle")

    def replay(self, state: SweState, patch: str, name: str) -> list[list[int]]:
        """Actions that apply ``patch`` with git, submit it and finish."""
        task: Task = state.agent.task
        if not patch.strip():
            raise CwmError(f"SWE task {task.id!r} has no {name} patch for the oracle")
        box = state.agent.box
        assert box is not None, "start the episode first"
        path = shlex.quote(f"{box.scratch}/{name}.patch")
        body = patch if patch.endswith("\n") else patch + "\n"  # trailing context lines matter
        apply = (
            f"git apply <<'{EOF_MARK}'\n{body}{EOF_MARK}\n"
            f"git add -A && git diff --cached > {path} && git reset -q"
        )
        texts = [
            f"Applying the fix.\n<tool: bash>\n{apply}\n</tool>",
            f"<tool: submit>\n{box.scratch}/{name}.patch\n</tool>",
            "Done.",
        ]
        return [self.chat.action(t) for t in texts]


def swe_env(
    tokenizer: Tokenizer | str | None = None, backend: SandboxBackend | None = None, **options: Any
) -> SweEnv:
    """The plugin factory: ``options`` are `SweConfig` fields; ``backend`` a sandbox backend
    object to use instead of the ``sandbox`` option's."""
    return SweEnv(
        convert_config(
            SweConfig, options, source="environment 'swe' options", prefix="env_options"
        ),
        load_tokenizer(tokenizer),
        backend,
    )
