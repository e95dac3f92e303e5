"""``arithmetic``: one question, one answer; the smallest complete environment.

Rows: ``{"id", "a", "b"}`` (integers). The prompt is a chat asking for ``a OP b``; the
action is the model's reply; the episode ends after it. What the policy sees: the
question. Hidden: the answer, which only ``reference`` (the oracle) gives away.

Outcomes: ``pass`` (the reply's last integer is the answer), ``answered`` (it has an
integer), ``error`` (how far off it is; absent without an answer). Rewards read them.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cwm.core.envs import Env, NoState, Rollout, Transition
from cwm.core.errors import CwmError
from cwm.core.formats.chat import encode_chat
from cwm.core.schemas import Message
from cwm.core.tokenizer import Tokenizer
from cwm.core.tokenizer import specials as sp

OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}
INTEGER = re.compile(r"-?\d+")


class Question(NoState):
    def __init__(self, answer: int):
        self.answer = answer


class Arithmetic(Env):
    name = "arithmetic"

    def __init__(self, op: str = "+", tokenizer: str | None = None):
        if op not in OPS:
            raise CwmError(f"arithmetic: op must be one of {', '.join(OPS)}, got {op!r}")
        self.op, self.tok = op, Tokenizer(tokenizer)
        self.eot = self.tok.token_id(sp.EOT)

    def start(self, row: Mapping[str, Any]) -> tuple[Question, Transition]:
        a, b = row.get("a"), row.get("b")
        if not isinstance(a, int) or not isinstance(b, int):
            raise CwmError(f"row {row.get('id')!r}: 'a' and 'b' must be integers")
        question = Message(
            role="user", content=f"What is {a} {self.op} {b}? Reply with the number."
        )
        prompt = encode_chat(self.tok, [question], generation_prompt=True)
        return Question(OPS[self.op](a, b)), Transition(observation=prompt)

    def step(self, state: Question, action: Sequence[int]) -> Transition:  # type: ignore[override]
        ids = [i for i in action if 0 <= i < self.tok.n_vocab and i != self.eot]
        numbers = INTEGER.findall(self.tok.decode(ids))
        outcomes: dict[str, Any] = {"answered": bool(numbers), "pass": False}
        if numbers:
            outcomes["error"] = abs(int(numbers[-1]) - state.answer)
            outcomes["pass"] = outcomes["error"] == 0
        # the reply's missing end-of-turn closes it, so the context stays a well-formed chat
        closing = [] if action and action[-1] == self.eot else [self.eot]
        return Transition(observation=closing, terminal=True, finish="answered", outcomes=outcomes)

    def reference(self, state: Question) -> list[list[int]]:  # type: ignore[override]
        return [[*self.tok.encode(str(state.answer)), self.eot]]


class Closeness:
    """1.0 for the right number, ``1 / (1 + error) ** sharpness`` for a near miss, 0 without one."""

    range = (0.0, 1.0)

    def __init__(self, sharpness: float = 1.0):
        self.sharpness = sharpness

    def __call__(self, rollout: Rollout) -> float:
        error = rollout.outcomes.get("error")
        return 0.0 if error is None else 1.0 / (1.0 + float(error)) ** self.sharpness
