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
- Given the tokenizer, the scores also say which part of a frame was right:
  ``locals_exact_match`` (the event token and the locals, up to ``<|action_sep|>``)
  and ``line_exact_match`` (the source line after it, without a returned value):
  state the model computed against a line of the source it found and copied.
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
    """The token ids that split a frame into its locals and its source line."""

    action: int
    arg: int
    frame: int

    @classmethod
    def of(cls, tok: Tokenizer) -> Separators:
        ids = [tok.token_id(f"<|{name}_sep|>") for name in ("action", "arg", "frame")]
        return cls(*ids)

    def parts(self, frame: list[int]) -> tuple[int, int]:
        """Where the locals part ends (after ``<|action_sep|>``) and where the line ends
        (before ``<|arg_sep|>`` or ``<|frame_sep|>``) in ``frame``."""
        locals_end = frame.index(self.action) + 1 if self.action in frame else 0
        line_end = next(
            (i for i in range(locals_end, len(frame)) if frame[i] in (self.arg, self.frame)),
            len(frame),
        )
        return locals_end, line_end


@dataclass
class Score:
    frames: int = 0
    exact: int = 0
    tokens: int = 0
    correct_tokens: int = 0
    loss_sum: float = 0.0
    #: frames whose locals, and whose source line, were right (counted given separators)
    locals_exact: int | None = None
    line_exact: int | None = None

    def add_parts(self, frame: list[int], hits: list[bool], seps: Separators | None) -> None:
        """Count whether ``frame``'s locals and its line were right (``hits``: per token)."""
        if seps is None:
            return
        locals_end, line_end = seps.parts(frame)
        self.locals_exact = (self.locals_exact or 0) + all(hits[:locals_end])
        self.line_exact = (self.line_exact or 0) + all(hits[locals_end:line_end])

    def result(self) -> dict[str, Any]:
        out = {
            "frames": self.frames,
            "next_frame_exact_match": self.exact / max(self.frames, 1),
            "token_accuracy": self.correct_tokens / max(self.tokens, 1),
        }
        if self.locals_exact is not None and self.line_exact is not None:
            out["locals_exact_match"] = self.locals_exact / max(self.frames, 1)
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
    ``tok``: also the share of frames whose locals, and whose line, were right)."""
    score, seps = Score(), Separators.of(tok) if tok is not None else None
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
            score.add_parts(ft.ids[start:end], hits.tolist(), seps)
    return score.result()


def score_copy_previous(traces: list[FrameTrace], tok: Tokenizer | None = None) -> dict[str, Any]:
    """The baseline that predicts each frame as a copy of the frame before it."""
    score, seps = Score(), Separators.of(tok) if tok is not None else None
    for ft in traces:
        previous: list[int] = []
        for start, end in ft.frames:
            frame = ft.ids[start:end]
            hits = [a == b for a, b in zip(frame, previous)]
            hits += [False] * (len(frame) - len(hits))
            score.frames += 1
            score.exact += frame == previous
            score.tokens += len(frame)
            score.correct_tokens += sum(hits)
            score.add_parts(frame, hits, seps)
            previous = frame
    return score.result()


def greedy_frame(model: nn.Module, tok: Tokenizer, prefix: list[int], max_new: int) -> list[int]:
    """Greedy decoding (KV cache) of the next frame after ``prefix``, up to ``<|frame_sep|>``."""
    stops = {tok.token_id("<|frame_sep|>"), *tok.stop_ids}
    device = next(model.parameters()).device
    prompt = torch.tensor([prefix], device=device)
    return greedy(model, prompt, max_new, stop_ids=stops)[0]
