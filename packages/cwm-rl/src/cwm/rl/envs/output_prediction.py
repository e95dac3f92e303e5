"""``output-prediction`` and its mirror ``input-prediction``.

Rows ``{"id", "code", "input", "output"}``: ``code`` defines ``f``, ``input`` is the
argument text of the call ``f(<input>)`` and ``output`` the repr of its result.

- ``output-prediction``, mode ``direct``: a chat asks for the value of
  ``f(<input>)``; the reply (a fenced block in it, or else the whole reply) is
  the prediction. Mode ``trace``: the prompt is the CWM trace prompt of the call
  and the model writes the trace; the prediction is the value of the entry
  scope's return frame.
- ``input-prediction``: a chat asks for arguments that make ``f`` return
  ``output``; the reply is the argument text.

A prediction is scored by running ``f(<input>) == <predicted>`` (or
``f(<predicted>) == <output>``) in an isolated worker, so equal values written
differently count (``{1, 2}`` and ``{2, 1}``), and a prediction that loops, floods
output or raises is a failure, never a crash. Outcomes: ``pass`` (bool),
``check`` (``pass``, ``fail``, ``syntax``, ``error``, ``limit`` or ``no-answer``)
and ``answer`` (the prediction's text, for majority voting).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cwm.core.config import Config, convert_config
from cwm.core.envs import Env, Transition
from cwm.core.errors import CwmError
from cwm.core.formats import FormatError
from cwm.core.formats.trace import decode_trace, trace_segments
from cwm.core.schemas import CallFrame, Message, ReturnFrame
from cwm.core.tokenizer import Tokenizer
from cwm.rl.envs.chat_turns import ChatTurns, load_tokenizer
from cwm.rl.envs.executor import CHECK_LIMITS, TRUTH_LIMITS, Executor, check_equal
from cwm.rl.envs.rows import fields

OUTPUT_QUESTION = (
    "Here is a Python function:\n\n```python\n{code}\n```\n\n"
    "What does `f({input})` return? Reply with the value as a Python expression, nothing else."
)
INPUT_QUESTION = (
    "Here is a Python function:\n\n```python\n{code}\n```\n\n"
    "Give arguments for which `f(...)` returns `{output}`. Reply with the arguments only, "
    "as you would write them between the parentheses of the call."
)
_FENCE = re.compile(r"```(?:python|py)?\n(.*?)```", re.DOTALL)


@dataclass
class RowState:
    row: Mapping[str, Any]
    prompt: list[int]
    reference: list[int]

    def close(self) -> None:
        pass


def reply_answer(text: str) -> str:
    """The prediction in a chat reply: the last fenced block, or else the whole reply."""
    blocks = _FENCE.findall(text)
    return (blocks[-1] if blocks else text).strip()


def returned_value(tok: Tokenizer, prompt: list[int], action: Sequence[int]) -> str | None:
    """The value of the entry scope's return frame in a written trace (None: not there)."""
    try:
        frames = decode_trace(tok, [*prompt, *action]).frames
    except FormatError:
        return None
    depth = 0
    for frame in frames:
        depth += isinstance(frame, CallFrame)
        if isinstance(frame, ReturnFrame):
            depth -= 1
            if depth == 0:
                return frame.value
    return None


class _Prediction(Env):
    def __init__(self, tokenizer: Tokenizer | None = None):
        self.tok = tokenizer or Tokenizer()
        self.chat = ChatTurns(self.tok)
        self.stop_token_ids: tuple[int, ...] = ()
        self.checker = Executor(CHECK_LIMITS)

    def _chat(self, question: str, answer: str) -> tuple[list[int], list[int]]:
        return self.chat.prompt([Message(role="user", content=question)]), self.chat.action(answer)

    def _answer(self, state: RowState, action: Sequence[int]) -> str | None:
        return reply_answer(self.chat.reply(action)) or None

    def _check(self, row: Mapping[str, Any], answer: str) -> str:
        raise NotImplementedError

    def step(self, state: RowState, action: Sequence[int]) -> Transition:
        answer = self._answer(state, action)
        check = "no-answer" if answer is None else self._check(state.row, answer)
        outcomes = {"pass": check == "pass", "check": check, "answer": answer or ""}
        if answer == "":  # input prediction's empty argument list still gets a vote
            outcomes["answer"] = "()"
        return Transition(terminal=True, finish="answered", outcomes=outcomes)

    def reference(self, state: RowState) -> list[list[int]]:
        return [list(state.reference)]

    def close(self) -> None:
        self.checker.close()


class OutputPrediction(_Prediction):
    name = "output-prediction"

    def __init__(self, *, mode: str = "direct", tokenizer: Tokenizer | None = None):
        if mode not in ("direct", "trace"):
            raise CwmError(f"output-prediction: mode must be direct or trace, not {mode!r}")
        super().__init__(tokenizer)
        self.mode = mode
        self.tracer = Executor(TRUTH_LIMITS) if mode == "trace" else None

    def start(self, row: Mapping[str, Any]) -> tuple[RowState, Transition]:
        code, input_, output = fields(row, "code", "input", "output")
        if self.tracer is None:
            prompt, ref = self._chat(OUTPUT_QUESTION.format(code=code, input=input_), output)
        else:
            trace = self.tracer.trace(code, f"f({input_})", id=str(row.get("id")))
            if not trace.ended:
                raise CwmError(
                    f"row {row.get('id')!r}: f({input_}) did not run to its end under the "
                    f"tracer ({trace.outcome}: {trace.error}); fix or drop the row"
                )
            seg = trace_segments(self.tok, trace)
            prompt, ref = seg.prompt, [t for f in seg.frames for t in f] + seg.end
        return RowState(row, prompt, ref), Transition(observation=prompt)

    def _answer(self, state: RowState, action: Sequence[int]) -> str | None:
        if self.mode == "trace":
            return returned_value(self.tok, state.prompt, action)
        return super()._answer(state, action)

    def _check(self, row: Mapping[str, Any], answer: str) -> str:
        return check_equal(
            self.checker, row["code"], f"f({row['input']})", answer, id=str(row.get("id"))
        )

    def close(self) -> None:
        super().close()
        if self.tracer is not None:
            self.tracer.close()


class InputPrediction(_Prediction):
    name = "input-prediction"

    def __init__(self, *, tokenizer: Tokenizer | None = None):
        super().__init__(tokenizer)

    def start(self, row: Mapping[str, Any]) -> tuple[RowState, Transition]:
        code, input_, output = fields(row, "code", "input", "output")
        prompt, ref = self._chat(INPUT_QUESTION.format(code=code, output=output), input_)
        return RowState(row, prompt, ref), Transition(observation=prompt)

    def _answer(self, state: RowState, action: Sequence[int]) -> str | None:
        return reply_answer(
            self.chat.reply(action)
        )  # "" is an answer here: the call f() takes no arguments

    def _check(self, row: Mapping[str, Any], answer: str) -> str:
        return check_equal(
            self.checker, row["code"], f"f({answer})", row["output"], id=str(row.get("id"))
        )


class OutputPredictionConfig(Config, frozen=True, kw_only=True):
    mode: str = "direct"  # direct or trace


class InputPredictionConfig(Config, frozen=True, kw_only=True):
    pass


def output_prediction(tokenizer: Tokenizer | str | None = None, **options: Any) -> OutputPrediction:
    """The plugin factory: ``options`` are `OutputPredictionConfig` fields."""
    config = convert_config(
        OutputPredictionConfig, options, source="environment 'output-prediction' options"
    )
    return OutputPrediction(mode=config.mode, tokenizer=load_tokenizer(tokenizer))


def input_prediction(tokenizer: Tokenizer | str | None = None, **options: Any) -> InputPrediction:
    """The plugin factory: input prediction has no options but ``tokenizer``."""
    convert_config(InputPredictionConfig, options, source="environment 'input-prediction' options")
    return InputPrediction(tokenizer=load_tokenizer(tokenizer))
