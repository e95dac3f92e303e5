"""Next-frame evaluation: teacher-forced exact match is what greedy decoding gives."""

import pytest
import torch
from train_fixtures import collatz_config, collatz_dataset, record_trace

from cwm.core.io import read_records
from cwm.core.tokenizer import Tokenizer
from cwm.train.demo.evaluate import (
    FrameTrace,
    Separators,
    frame_traces,
    greedy_frame,
    score_copy_previous,
    score_model,
)
from cwm.train.trainer import Trainer

TOK = Tokenizer()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A debug model that has learnt part of the collatz traces: some frames right, some wrong."""
    root = tmp_path_factory.mktemp("eval")
    data = collatz_dataset(root / "collatz")
    cfg = collatz_config(root / "run", data, steps=150)
    trainer = Trainer(cfg)
    trainer.run()
    heldout = frame_traces(TOK, read_records(data / "heldout"), max_tokens=257, max_frames=200)
    return trainer.model.eval(), heldout


def test_teacher_forced_exact_match_is_greedy_decoding(trained):
    model, heldout = trained
    agree = hits = 0
    for ft in heldout[:4]:
        ids = torch.tensor(ft.ids)
        with torch.no_grad():
            predicted = model(ids[None, :-1])[0].argmax(-1)
        for start, end in ft.frames:
            forced = bool((predicted[start - 1 : end - 1] == ids[start:end]).all())
            decoded = greedy_frame(model, TOK, ft.ids[:start], max_new=end - start + 8)
            assert forced == (decoded == ft.ids[start:end]), (ft.id, start)
            agree += 1
            hits += forced
    assert 0 < hits < agree  # both outcomes were checked


def test_scores_of_a_partly_trained_model(trained):
    model, heldout = trained
    score = score_model(model, heldout)
    assert score["frames"] == sum(len(ft.frames) for ft in heldout) > 50
    assert 0 < score["next_frame_exact_match"] < 1 and 0 < score["token_accuracy"] < 1
    assert score["loss"] > 0


def test_copy_previous_baseline():
    a, b = [5, 6, TOK.token_id("<|frame_sep|>")], [5, 7, TOK.token_id("<|frame_sep|>")]
    ids = [1, 2, *a, *b, *b]
    ft = FrameTrace("t", ids, [(2, 5), (5, 8), (8, 11)])
    score = score_copy_previous([ft])
    assert score["next_frame_exact_match"] == pytest.approx(1 / 3)  # the first frame is a miss
    assert score["token_accuracy"] == pytest.approx((0 + 2 + 3) / 9)


SEP = {n: TOK.token_id(f"<|{n}_sep|>") for n in ("line", "action", "arg", "frame", "return")}


def trace_of(*frames: list[int]) -> FrameTrace:
    ids, spans = [1, 2], []
    for f in frames:
        spans.append((len(ids), len(ids) + len(f)))
        ids += f
    return FrameTrace("t", ids, spans)


class Scripted(torch.nn.Module):
    """Predicts every next token of ``ids`` right, except at the positions in ``wrong``."""

    def __init__(self, ids: list[int], wrong: set[int]):
        super().__init__()
        self.ids, self.wrong = ids, wrong
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # scorers read the device here

    def forward(self, inputs):
        logits = torch.zeros(1, inputs.shape[1], max(self.ids) + 2)
        for t in range(inputs.shape[1]):
            target = self.ids[t + 1]
            logits[0, t, target + 1 if t + 1 in self.wrong else target] = 1.0
        return logits


def test_a_frame_splits_into_its_state_and_its_line():
    seps = Separators.of(TOK)
    line = [SEP["line"], 5, SEP["action"], 7, 8, SEP["frame"]]
    returned = [SEP["return"], SEP["action"], 9, SEP["arg"], 3, SEP["frame"]]
    assert seps.split(line) == ([SEP["line"], 5, SEP["action"]], [7, 8, SEP["frame"]])
    assert seps.split(returned) == (
        [SEP["return"], SEP["action"], 3, SEP["frame"]],
        [9, SEP["arg"]],
    )


def test_the_model_is_scored_on_each_part():
    """A wrong local or returned value misses the state only; a line that does not end
    where the true one does misses the line only."""
    frames = [
        [SEP["line"], 5, SEP["action"], 7, 8, SEP["frame"]],  # a local wrong
        [SEP["return"], SEP["action"], 9, 8, SEP["arg"], 3, SEP["frame"]],  # the value wrong
        [SEP["line"], 6, SEP["action"], 9, 8, SEP["frame"]],  # the line's end wrong
        [SEP["line"], 6, SEP["action"], 9, 8, SEP["frame"]],  # right
    ]
    ft = trace_of(*frames)
    (s1, _), (s2, _), (_, e3), _ = ft.frames
    model = Scripted(ft.ids, wrong={s1 + 1, s2 + 5, e3 - 1})
    score = score_model(model, [ft], TOK)
    assert score["next_frame_exact_match"] == pytest.approx(1 / 4)
    assert score["state_exact_match"] == pytest.approx(2 / 4)
    assert score["line_exact_match"] == pytest.approx(3 / 4)
    assert "state_exact_match" not in score_model(model, [ft])


def test_copy_previous_is_scored_part_against_part():
    """The previous frame's state against this one's, its line against this line, whatever
    their lengths."""
    frames = [
        [SEP["line"], 5, SEP["action"], 7, 8, SEP["frame"]],
        [SEP["line"], 5, SEP["action"], 9, 8, SEP["frame"]],  # same state, another line
        [SEP["line"], 6, 6, SEP["action"], 9, 8, SEP["frame"]],  # longer locals, that line
        [SEP["return"], SEP["action"], 9, 8, SEP["arg"], 3, SEP["frame"]],  # line ends apart
        [SEP["return"], SEP["action"], 9, 8, SEP["arg"], 4, SEP["frame"]],  # another value
    ]
    score = score_copy_previous([trace_of(*frames)], TOK)
    assert score["state_exact_match"] == pytest.approx(1 / 5)  # the second frame's
    assert score["line_exact_match"] == pytest.approx(2 / 5)  # the third's and the fifth's
    assert score["next_frame_exact_match"] == 0


def test_frames_past_the_context_are_not_scored():
    trace = record_trace(27)  # 111 steps: far longer than the context
    (ft,) = frame_traces(TOK, [trace], max_tokens=300, max_frames=10)
    assert 0 < len(ft.frames) < len(trace.frames) and ft.frames[-1][1] <= 300
    assert len(ft.ids) == ft.frames[-1][1]
