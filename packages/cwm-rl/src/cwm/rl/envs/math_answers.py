"""``math``: a problem, a final answer, checked with ``math-verify``.

Rows: ``{"id", "problem", "answer"}``. The model is asked to end with its answer in
``\\boxed{}``; the answer is the last ``\\boxed{...}`` of the reply, else its last
non-empty line (without "Answer:", what precedes an ``=``, prose before the last
word, or surrounding ``$``). It is right when
``math-verify`` finds it equal to the row's answer (so ``0.5``, ``1/2`` and
``\\frac{1}{2}`` agree).

What the policy sees: the problem. Outcomes: ``pass`` (right), ``answered`` (an
answer was found), ``answer`` (the extracted text, for majority voting).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cwm.core.config import Config, convert_config
from cwm.core.envs import Env, NoState, Transition
from cwm.core.errors import CwmError
from cwm.core.formats.chat import system_prompt
from cwm.core.schemas import Message
from cwm.core.tokenizer import Tokenizer
from cwm.rl.envs.answer_check import AnswerChecker
from cwm.rl.envs.chat_turns import ChatTurns, load_tokenizer
from cwm.rl.eval.voting import majority_index

ASK = "Reason step by step, and put your final answer within \\boxed{}."
MAX_ANSWER = 1000  # characters: a longer "answer" is not one
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")  # a word that is no LaTeX command


class MathConfig(Config, frozen=True, kw_only=True):
    check_seconds: float = 20.0  # deadline of one math-verify check
    reasoning: bool = False  # replies start with <think> ... </think>


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (braces balanced), or None."""
    start = text.rfind("\\boxed")
    while start != -1:
        i = text.find("{", start)
        if i != -1 and text[start + len("\\boxed") : i].strip() == "":
            depth = 0
            for j in range(i, len(text)):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    return text[i + 1 : j].strip()
        start = text.rfind("\\boxed", 0, start)
    return None


def extract_answer(reply: str) -> str | None:
    """The final answer of a reply (see the module docstring); None when there is none."""
    boxed = last_boxed(reply)
    if boxed is not None:
        return boxed or None
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    last = re.sub(r"^(final answer|the answer is|answer)\s*[:=]?\s*", "", lines[-1], flags=re.I)
    last = last.rpartition("=")[2] if "=" in last else last
    if _PROSE.search(last):  # "so it is 2/4": the last word is the answer
        last = last.split()[-1]
    last = last.strip().rstrip(".").strip().strip("$").strip()
    return last if last and len(last) <= MAX_ANSWER else None


class MathState(NoState):
    def __init__(self, row_id: str, problem: str, answer: str):
        self.row_id, self.problem, self.answer = row_id, problem, answer


class MathEnv(Env):
    name = "math"

    def __init__(self, config: MathConfig, tokenizer: Tokenizer):
        self.config = config
        self.chat = ChatTurns(tokenizer, reasoning=config.reasoning)
        self.checker = AnswerChecker(deadline=config.check_seconds)

    def start(self, row: Mapping[str, Any]) -> tuple[MathState, Transition]:
        missing = [k for k in ("id", "problem", "answer") if k not in row]
        if missing:
            raise CwmError(
                f"math row {row.get('id', '?')!r} lacks {', '.join(missing)}; "
                'a row is {"id", "problem", "answer"}'
            )
        state = MathState(str(row["id"]), str(row["problem"]), str(row["answer"]))
        messages = [
            Message(role="system", content=system_prompt(reasoning=self.config.reasoning)),
            Message(role="user", content=f"{state.problem.strip()}\n\n{ASK}"),
        ]
        return state, Transition(observation=self.chat.prompt(messages))

    def step(self, state: MathState, action: Sequence[int]) -> Transition:  # type: ignore[override]
        answer = extract_answer(self.chat.answer(action))
        right = self.same(state.answer, answer) if answer is not None else False
        outcomes: dict[str, Any] = {"pass": bool(right), "answered": answer is not None}
        if answer is not None:
            outcomes["answer"] = answer
        if right is None:
            outcomes["check_timeout"] = True
        return Transition(terminal=True, finish="answered", outcomes=outcomes)

    def same(self, gold: str, answer: str) -> bool | None:
        if gold.strip() == answer.strip():
            return True
        return self.checker.equivalent(gold, answer)

    def majority(self, answers: Sequence[str | None]) -> int | None:
        """Which sample majority voting picks: answers are the same when math-verify says so."""
        return majority_index(answers, lambda a, b: bool(self.same(a, b)))

    def close(self) -> None:
        """Stop the answer checker's worker process."""
        self.checker.close()

    def reference(self, state: MathState) -> list[list[int]]:  # type: ignore[override]
        return [self.chat.action(f"The answer is $\\boxed{{{state.answer}}}$.")]


def math_env(tokenizer: Tokenizer | str | None = None, **options: Any) -> MathEnv:
    """The plugin factory: ``options`` are `MathConfig` fields."""
    return MathEnv(
        convert_config(
            MathConfig, options, source="environment 'math' options", prefix="env_options"
        ),
        load_tokenizer(tokenizer),
    )
