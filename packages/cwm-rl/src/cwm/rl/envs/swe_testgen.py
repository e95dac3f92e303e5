"""``swe-testgen``: the agent writes a test that reproduces the task's bug.

The same sandbox, tools and chat turns as ``swe`` (see `cwm.rl.envs.swe`); the
instruction asks for a new test, submitted as a patch that touches only test
files. Graded in fresh sandboxes: the test must fail on the buggy tree and
pass once the oracle patch is applied.

What the policy sees: the issue and the repository. Hidden: the oracle patch and the
task's own hidden tests. Outcomes: ``pass`` (fails before and passes after),
``fails_before``, ``passes_after``, ``submitted``, ``format_errors``, ``turns``. The
submitted test patch is in the last transition's ``info["test"]``. The oracle
submits the task's hidden test patch, or for a task without one (mutate-fix tasks of
``cwm forage``, whose failing tests are in the tree) a copy of its first failing test's file.
"""

from __future__ import annotations

import posixpath
import shlex
from typing import Any

from cwm.core.config import convert_config
from cwm.core.schemas import Message
from cwm.core.tokenizer import Tokenizer
from cwm.data.envs.swe import SWEEnv
from cwm.data.sandbox.base import SandboxBackend
from cwm.rl.envs.chat_turns import load_tokenizer
from cwm.rl.envs.pytest_runs import changed_test_files, pytest_passes
from cwm.rl.envs.swe import SweConfig, SweEnv, SweState

TESTGEN_TASK = """\
The repository {repo} is at {workdir}, with its dependencies installed; the bash session \
starts there. A user reported this issue:

<issue>
{instruction}
</issue>

Do not fix it. Write a pytest test that reproduces it: the test must fail on the current \
code and pass once the issue is fixed. Put it in a new test file (named test_*.py), leave \
the source code as it is, check that the test fails, then submit a patch that adds only the \
test file (for example `git add -N FILE && git diff > /tmp/test.patch`)."""


class TestgenAgent(SWEEnv):
    """cwm-data's SWE environment with the test-writing instruction."""

    __test__ = False  # not a pytest test class, despite its name

    def reset(self) -> list[Message]:
        super().reset()
        assert self.box is not None
        text = TESTGEN_TASK.format(
            repo=self.task.repo or "under test",
            workdir=self.box.workdir,
            instruction=self.task.instruction.strip(),
        )
        self.prompt[-1] = Message(role="user", content=text)
        return list(self.prompt)


class SweTestgen(SweEnv):
    name = "swe-testgen"
    agent_class = TestgenAgent

    def grade(self, state: SweState) -> tuple[dict[str, Any], dict[str, Any]]:
        agent = state.agent
        test = agent.submission or ""
        outcomes: dict[str, Any] = {
            "submitted": bool(test),
            "format_errors": state.format_errors,
            "turns": len(agent.turns),
        }
        files, error = changed_test_files(test) if test else ([], "nothing was submitted")
        before = after = None
        if error is None:

            def start() -> Any:
                return self.backend.start(agent.task.image or "")

            timeout = self.config.test_timeout
            before = pytest_passes(agent.task, [test], files, start, timeout=timeout)
            fixed = [agent.task.oracle_patch, test]
            after = pytest_passes(agent.task, fixed, files, start, timeout=timeout)
        outcomes["fails_before"] = before is False
        outcomes["passes_after"] = after is True
        outcomes["pass"] = before is False and after is True
        return outcomes, {"test": test, "error": error, "sandbox": self.backend.name}

    def reference(self, state: SweState) -> list[list[int]]:  # type: ignore[override]
        task = state.agent.task
        if task.test_patch.strip() or not task.fail_to_pass:
            return self.replay(state, task.test_patch, "test")
        # a mutate-fix task's failing tests are in the tree: a copy of the first one's file
        # fails now and passes with the fix
        source = task.fail_to_pass[0].split("::")[0]
        copy = posixpath.join(posixpath.dirname(source), "test_cwm_repro.py")
        path = shlex.quote(f"{state.agent.box.scratch}/test.patch")  # type: ignore[union-attr]
        texts = [
            f"<tool: bash>\ncp {shlex.quote(source)} {shlex.quote(copy)} && git add -A && "
            f"git diff --cached > {path} && git reset -q\n</tool>",
            f"<tool: submit>\n{path}\n</tool>",
            "Done.",
        ]
        return [self.chat.action(t) for t in texts]


def swe_testgen(
    tokenizer: Tokenizer | str | None = None, backend: SandboxBackend | None = None, **options: Any
) -> SweTestgen:
    """The plugin factory: as ``swe``'s."""
    config = convert_config(
        SweConfig, options, source="environment 'swe-testgen' options", prefix="env_options"
    )
    return SweTestgen(config, load_tokenizer(tokenizer), backend)
