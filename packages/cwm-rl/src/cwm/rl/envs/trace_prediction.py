"""``trace-prediction``: given the CWM trace prompt of a call, write its execution trace.

Rows are the ``cwm trace batch`` task format ``{"id", "source", "call"}`` (``module``
optional). The real tracer (isolated workers) supplies the true trace; what the
policy sees is its prompt only: ``<|begin_of_text|><|trace_context_start|>`` + the
source with ``# << START_OF_TRACE`` on the entry ``def`` line + ``<|frame_sep|>``.

Modes:

- ``full``: one action writes every frame and ``<|end_of_text|>``. Frame i counts
  when its text equals the true frame i's. Outcomes: ``frames_exact`` (the share
  of true frames written exactly), ``frames_matched``, ``frames``, ``frame_hits``
  (one ``1``/``0`` per true frame, for the dense reward), ``trace_exact`` (every
  frame and the end), ``parsed`` (the reply parses as a trace).
- ``next-frame``: teacher forced, the ``cwm demo`` metric: a row becomes one
  episode per frame (`expand`); the prompt holds the true frames before it and
  the action (stopped at ``<|frame_sep|>``) is compared with the true frame.
  Outcomes ``frames_exact`` (1.0 or 0.0), ``frame_hits`` and ``frame_prefix``: the
  share of the true frame's tokens the action repeats before its first wrong token (1.0
  for an exact frame), a partial credit for RL (``reward = "outcome"`` with
  ``reward_options = { key = "frame_prefix" }``) where exact frames are rare or
  every sample of a group gets the same one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cwm.core.config import Config, convert_config
from cwm.core.envs import Env, Transition
from cwm.core.errors import CwmError
from cwm.core.formats import FormatError
from cwm.core.formats.trace import FrameTrace, TraceSegments, decode_trace, trace_segments
from cwm.core.schemas import Trace
from cwm.core.tokenizer import Tokenizer
from cwm.rl.envs.chat_turns import load_tokenizer
from cwm.rl.envs.executor import TRUTH_LIMITS, Executor
from cwm.rl.envs.rows import fields

MODES = ("full", "next-frame")


@dataclass
class TraceState:
    segments: TraceSegments
    truth: list[list[int]] = field(default_factory=list)  # next-frame: the frame to write

    def close(self) -> None:
        pass


def split_frames(tokens: Sequence[int], frame_sep: int) -> tuple[list[list[int]], list[int]]:
    """The frames written (each ending with ``frame_sep``) and what follows the last one."""
    frames, current = [], []
    for t in tokens:
        current.append(t)
        if t == frame_sep:
            frames.append(current)
            current = []
    return frames, current


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class TracePrediction(Env):
    name = "trace-prediction"

    def __init__(self, *, mode: str = "full", tokenizer: Tokenizer | None = None):
        if mode not in MODES:
            raise CwmError(
                f"trace-prediction: mode must be one of {', '.join(MODES)}, not {mode!r}"
            )
        self.mode = mode
        self.tok = tokenizer or Tokenizer()
        self.frame_sep = self.tok.token_id("<|frame_sep|>")
        self.stop_token_ids = (self.frame_sep,) if mode == "next-frame" else ()
        self.executor = Executor(TRUTH_LIMITS)
        self._truths: dict[tuple[str, str, str], Trace] = {}

    def true_trace(self, row: Mapping[str, Any]) -> Trace:
        source, call = fields(row, "source", "call")
        module = str(row.get("module") or "snippet")
        key = (source, call, module)
        if key not in self._truths:
            trace = self.executor.trace(source, call, id=str(row.get("id")), module=module)
            if not trace.ended:
                raise CwmError(
                    f"row {row.get('id')!r}: the call did not run to its end under the tracer "
                    f"({trace.outcome}: {trace.error}); fix or drop the row"
                )
            self._truths[key] = trace
        return self._truths[key]

    def expand(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The episodes of one row: itself, or (next-frame) one per frame of its trace."""
        if self.mode == "full":
            return [dict(row)]
        n = len(self.true_trace(row).frames)
        return [{**row, "id": f"{row['id']}#{i}", "frame": i} for i in range(n)]

    def start(self, row: Mapping[str, Any]) -> tuple[TraceState, Transition]:
        segments = trace_segments(self.tok, self.true_trace(row))
        if self.mode == "full":
            return TraceState(segments), Transition(observation=list(segments.prompt))
        frame = int(row.get("frame", 0))
        ft = FrameTrace.of(self.tok, self.true_trace(row), max_tokens=len(segments.ids()))
        if not 0 <= frame < len(ft.frames):
            raise CwmError(f"row {row.get('id')!r}: frame {frame} is not in its trace")
        begin, end = ft.frames[frame]
        state = TraceState(segments, [ft.ids[begin:end]])
        return state, Transition(observation=ft.ids[:begin])

    def step(self, state: TraceState, action: Sequence[int]) -> Transition:
        if self.mode == "next-frame":
            truth = state.truth[0]
            hit = self.tok.decode(list(action)) == self.tok.decode(truth)
            outcomes = {
                "frames_exact": float(hit),
                "frame_hits": "1" if hit else "0",
                "frame_prefix": 1.0 if hit else common_prefix(action, truth) / len(truth),
            }
            return Transition(terminal=True, finish="answered", outcomes=outcomes)
        seg = state.segments
        written, rest = split_frames(action, self.frame_sep)
        hits = [
            i < len(written) and self.tok.decode(written[i]) == self.tok.decode(true)
            for i, true in enumerate(seg.frames)
        ]
        try:
            decode_trace(self.tok, [*seg.prompt, *action])
            parsed = True
        except FormatError:
            parsed = False
        exact = all(hits) and len(written) == len(seg.frames) and list(rest) == seg.end
        outcomes = {
            "frames_exact": sum(hits) / max(len(seg.frames), 1),
            "frames_matched": sum(hits),
            "frames": len(seg.frames),
            "frame_hits": "".join("1" if h else "0" for h in hits),
            "trace_exact": exact,
            "parsed": parsed,
        }
        return Transition(terminal=True, finish="answered", outcomes=outcomes)

    def reference(self, state: TraceState) -> list[list[int]]:
        if self.mode == "next-frame":
            return [list(state.truth[0])]
        return [[t for f in state.segments.frames for t in f] + list(state.segments.end)]

    def close(self) -> None:
        self.executor.close()


class TracePredictionConfig(Config, frozen=True, kw_only=True):
    mode: str = "full"  # full or next-frame


def trace_prediction(tokenizer: Tokenizer | str | None = None, **options: Any) -> TracePrediction:
    """The plugin factory: ``options`` are `TracePredictionConfig` fields."""
    config = convert_config(
        TracePredictionConfig, options, source="environment 'trace-prediction' options"
    )
    return TracePrediction(mode=config.mode, tokenizer=load_tokenizer(tokenizer))
