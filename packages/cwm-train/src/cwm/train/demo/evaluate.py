"""Next-frame prediction on held-out traces: exact match, token accuracy, loss.

Teacher-forced next-frame exact match: for every frame ``i`` of a trace, the
model is given the true prompt and frames ``< i`` and decodes greedily until
``<|frame_sep|>``; the frame counts when the decoded tokens equal the true
frame's. Greedy decoding reproduces the true frame exactly when, at every
token of the frame, the argmax given the true prefix is the true next token
(the decoded prefix is then the true prefix), so one forward over the whole
trace scores all its frames at once; `greedy_frame` decodes one frame with the
KV cache for the examples in the summary, and the tests check both agree.

- Frames only: the ``<|end_of_text|>`` after the last frame is not a frame.
- Frames that end past ``max_tokens`` (the context the model trained on) are
  not evaluated.
- ``copy_previous`` predicts frame ``i`` as frame ``i - 1``'s tokens; for the
  first frame it has nothing to copy and counts as a miss. Its token accuracy
  compares position by position.
- Given the tokenizer, the scores also say which part of a frame was right (see
  `Separators`): ``line_exact_match``, the source line about to run (found in the
  source and copied), and ``state_exact_match``, the rest (the event, the locals, a
  returned value: what running the code gives). ``copy_previous`` compares part with
  part.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cwm.core.formats.trace import FrameTrace
from cwm.core.model import greedy
from cwm.core.schemas import Trace
from cwm.core.tokenizer import Tokenizer


@dataclass(frozen=True)
class Separators:
    """Splits a frame into its two parts. The line: the source line after
    ``<|action_sep|>`` and the token that ends it (``<|arg_sep|>`` or ``<|frame_sep|>``).
    The state: every other token (the event, the locals, a returned or raised value). A
    frame is exact when both are."""

    action: int
    arg: int
    frame: int

    @classmethod
    def of(cls, tok: Tokenizer) -> Separators:
        ids = [tok.token_id(f"<|{name}_sep|>") for name in ("action", "arg", "frame")]
        return cls(*ids)

    def line(self, frame: list[int]) -> range:
        """The positions of ``frame``'s line part."""
        start = frame.index(self.action) + 1 if self.action in frame else len(frame)
        ends = (i for i in range(start, len(frame)) if frame[i] in (self.arg, self.frame))
        return range(start, next(ends, len(frame) - 1) + 1)

    def split(self, frame: list[int]) -> tuple[list[int], list[int]]:
        """``frame``'s (state, line) tokens."""
        line = self.line(frame)
        return frame[: line.start] + frame[line.stop :], frame[line.start : line.stop]


@dataclass
class Score:
    frames: int = 0
    exact: int = 0
    tokens: int = 0
    correct_tokens: int = 0
    loss_sum: float = 0.0
    #: the frames' parts are scored (the scorer has the tokenizer's separators)
    split: bool = False
    state_exact: int = 0  # frames whose state was right
    line_exact: int = 0  # frames whose line was right

    def result(self) -> dict[str, Any]:
        out = {
            "frames": self.frames,
            "next_frame_exact_match": self.exact / max(self.frames, 1),
            "token_accuracy": self.correct_tokens / max(self.tokens, 1),
        }
        if self.split:
            out["state_exact_match"] = self.state_exact / max(self.frames, 1)
            out["line_exact_match"] = self.line_exact / max(self.frames, 1)
        if self.loss_sum:
            out["loss"] = self.loss_sum / max(self.tokens, 1)
        return out


def frame_traces(
    tok: Tokenizer, traces: Iterable[Trace], *, max_tokens: int, max_frames: int
) -> list[FrameTrace]:
    """Held-out traces as `FrameTrace`s, until ``max_frames`` frames are collected."""
    out, n = [], 0
    for trace in traces:
        ft = FrameTrace.of(tok, trace, max_tokens)
        if not ft.frames:
            continue
        out.append(ft)
        n += len(ft.frames)
        if n >= max_frames:
            break
    return out


@torch.no_grad()
def score_model(
    model: nn.Module, traces: list[FrameTrace], tok: Tokenizer | None = None
) -> dict[str, Any]:
    """Teacher-forced next-frame exact match, token accuracy and loss over the frames (with
    ``tok``: also the share of frames whose state, and whose line, were right)."""
    seps = Separators.of(tok) if tok is not None else None
    score = Score(split=seps is not None)
    device = next(model.parameters()).device
    for ft in traces:
        ids = torch.tensor(ft.ids, device=device)
        logits = model(ids[None, :-1])[0].float()
        predicted = logits.argmax(-1)  # predicted[t] guesses ids[t + 1]
        losses = F.cross_entropy(logits, ids[1:], reduction="none")
        for start, end in ft.frames:
            hits = predicted[start - 1 : end - 1] == ids[start:end]
            score.frames += 1
            score.exact += bool(hits.all())
            score.tokens += end - start
            score.correct_tokens += int(hits.sum())
            score.loss_sum += float(losses[start - 1 : end - 1].sum())
            if seps is not None:
                line = seps.line(ft.ids[start:end])
                hit = hits.tolist()
                score.state_exact += all(h for i, h in enumerate(hit) if i not in line)
                score.line_exact += all(hit[i] for i in line)
    return score.result()


def score_copy_previous(traces: list[FrameTrace], tok: Tokenizer | None = None) -> dict[str, Any]:
    """The baseline that predicts each frame as a copy of the frame before it."""
    seps = Separators.of(tok) if tok is not None else None
    score = Score(split=seps is not None)
    for ft in traces:
        previous: list[int] = []
        for start, end in ft.frames:
            frame = ft.ids[start:end]
            score.frames += 1
            score.exact += frame == previous
            score.tokens += len(frame)
            score.correct_tokens += sum(a == b for a, b in zip(frame, previous))
            # part against part; the first frame has nothing to copy: a miss in both
            if seps is not None and previous:
                (state, line), (state_before, line_before) = map(seps.split, (frame, previous))
                score.state_exact += state == state_before
                score.line_exact += line == line_before
            previous = frame
    return score.result()


def greedy_frame(model: nn.Module, tok: Tokenizer, prefix: list[int], max_new: int) -> list[int]:
    """Greedy decoding (KV cache) of the next frame after ``prefix``, up to ``<|frame_sep|>``."""
    stops = {tok.token_id("<|frame_sep|>"), *tok.stop_ids}
    device = next(model.parameters()).device
    prompt = torch.tensor([prefix], device=device)
    return greedy(model, prompt, max_new, stop_ids=stops)[0]
