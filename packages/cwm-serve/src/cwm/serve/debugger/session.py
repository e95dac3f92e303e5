"""The neural debugger: the model predicts a trace frame by frame, steered like a debugger.

The prompt is CWM's trace prompt (the source with ``# << START_OF_TRACE`` on the
entry's ``def`` line); each step appends the frames so far, in the trace format,
and the model writes the next frame up to ``<|frame_sep|>`` (or ends the trace
with ``<|end_of_text|>``). Steering is done by forcing the next event token:

- ``step``: the next frame; on a call frame, force a line frame (step into);
- ``next``: the next frame; if it enters a function, force its return frame
  (step over), then the next frame of the caller;
- ``out``: frames until the current scope returns;
- ``set NAME VALUE``: rewrite a local of the current frame; later frames are
  predicted from the changed state (a counterfactual).

The engine's prefix cache keeps the source and earlier frames computed, so a
step costs about one frame of decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from cwm.core.formats.errors import FormatError
from cwm.core.formats.trace import EVENT_TOKENS, TraceText, decode_trace, trace_segments
from cwm.core.schemas import AnyFrame, CallFrame, LineFrame, ReturnFrame
from cwm.core.tokenizer import specials as sp
from cwm.serve.engine import LLMEngine, SamplingParams


@dataclass
class Predicted:
    frame: AnyFrame
    forced: str | None = None  # the event the debugger forced, if any
    edited: bool = False  # a local was set by hand
    given: bool = False  # the actual frame, not the model's (the call with its arguments)


@dataclass
class DebugSession:
    engine: LLMEngine
    source: str
    entry_line: int
    temperature: float = 0.0
    max_frame_tokens: int = 512
    frames: list[Predicted] = field(default_factory=list)
    ended: bool = False  # the model closed the trace (<|end_of_text|>)
    error: str | None = None  # the model wrote something that is not a frame

    def __post_init__(self) -> None:
        tok = self.engine.tokenizer
        self.event_ids = {
            cls.__struct_config__.tag: tok.token_id(text) for cls, text in EVENT_TOKENS.items()
        }
        self.frame_sep = tok.token_id(sp.FRAME_SEP)

    @property
    def done(self) -> bool:
        return self.ended or self.error is not None

    @property
    def current(self) -> AnyFrame | None:
        return self.frames[-1].frame if self.frames else None

    def _text(self) -> TraceText:
        return TraceText(
            source=self.source,
            entry_line=self.entry_line,
            frames=[p.frame for p in self.frames],
            ended=False,
        )

    def give(self, frame: AnyFrame) -> None:
        """Start the trace with ``frame`` as a fact: the model predicts what follows it."""
        if self.frames:
            raise ValueError("a given frame starts the trace; this one has frames already")
        self.frames.append(Predicted(frame, given=True))

    def predict(self, force: str | None = None) -> AnyFrame | None:
        """Append the model's next frame (its event forced to ``force``); None at the end."""
        if self.done:
            return None
        tok = self.engine.tokenizer
        segments = trace_segments(tok, self._text())
        prompt = segments.ids()
        forced = [self.event_ids[force]] if force else []
        budget = self.engine.max_model_len - len(prompt) - len(forced)
        if budget < 8:
            self.error = "the trace no longer fits in the model's context"
            return None
        params = SamplingParams(
            temperature=self.temperature,
            max_tokens=min(self.max_frame_tokens, budget),
            stop_token_ids=[self.frame_sep],
            seed=len(self.frames),
        )
        out = self.engine.generate([prompt + forced], params, progress=False)[0].outputs[0]
        new = forced + out.token_ids
        if new == [tok.eos_id]:  # the entry scope exited: the trace is complete
            self.ended = True
            return None
        if new[-1] != self.frame_sep:
            self.error = f"the model did not finish a frame: {tok.decode(new)!r}"
            return None
        try:
            parsed = decode_trace(tok, prompt + new)
        except FormatError as exc:
            self.error = f"the model's frame does not parse ({exc}): {tok.decode(new)!r}"
            return None
        frame = parsed.frames[-1]
        self.frames.append(Predicted(frame, forced=force))
        return frame

    # -- debugger moves ----------------------------------------------------------

    def step(self) -> AnyFrame | None:
        """Step into: after a call frame, force the first line of the callee."""
        return self.predict("line" if isinstance(self.current, CallFrame) else None)

    def next(self) -> AnyFrame | None:
        """Step over: a call into a function is answered by forcing its return."""
        frame = self.predict()
        if isinstance(frame, CallFrame) and len(self.frames) > 1:
            self.predict("return")
            frame = self.predict()
        return frame

    def out(self) -> AnyFrame | None:
        """Until the current scope returns (callees are stepped over)."""
        while not self.done:
            frame = self.predict()
            if isinstance(frame, CallFrame):
                self.predict("return")
            elif isinstance(frame, ReturnFrame):
                return self.predict()
        return None

    def run(self, max_frames: int = 1000) -> None:
        """Predict frames until the trace ends (or ``max_frames``)."""
        for _ in range(max_frames):
            if self.predict() is None:
                return

    def back(self) -> None:
        """Drop the last predicted frame (a given one stays)."""
        if self.frames and not self.frames[-1].given:
            self.frames.pop()
        self.ended, self.error = False, None

    def set_local(self, name: str, value: str) -> None:
        """Give local ``name`` the repr text ``value`` in the current frame."""
        frame = self.current
        if not isinstance(frame, CallFrame | LineFrame):
            raise ValueError("locals can be set on a call or line frame; step to one first")
        locals_ = {**frame.locals, name: value}
        self.frames[-1] = Predicted(
            msgspec.structs.replace(frame, locals=locals_),
            self.frames[-1].forced,
            edited=True,
            given=self.frames[-1].given,
        )

    @property
    def edited(self) -> bool:
        return any(p.edited for p in self.frames)
