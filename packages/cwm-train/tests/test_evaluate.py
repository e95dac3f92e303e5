"""Next-frame evaluation: teacher-forced exact match is what greedy decoding gives."""

import pytest
import torch
from train_fixtures import collatz_config, collatz_dataset, record_trace

from cwm.core.io import read_records
from cwm.core.tokenizer import Tokenizer
from cwm.train.demo.evaluate import (
    FrameTrace,
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


def test_parts_of_a_frame_are_scored_apart():
    """Locals right but the line wrong, and the other way: each part counts on its own;
    a returned value is in neither part."""
    sep = {n: TOK.token_id(f"<|{n}_sep|>") for n in ("line", "action", "arg", "frame", "return")}
    line_a = [sep["line"], 5, sep["action"], 7, 8, sep["frame"]]
    line_b = [sep["line"], 5, sep["action"], 9, 8, sep["frame"]]  # same locals, another line
    line_c = [sep["line"], 6, sep["action"], 9, 8, sep["frame"]]  # other locals, that line
    ret_d = [sep["return"], sep["action"], 9, 8, sep["arg"], 3, sep["frame"]]
    ret_e = [sep["return"], sep["action"], 9, 8, sep["arg"], 4, sep["frame"]]  # another value
    frames = [line_a, line_b, line_c, ret_d, ret_e]
    ids, spans = [1, 2], []
    for f in frames:
        spans.append((len(ids), len(ids) + len(f)))
        ids += f
    score = score_copy_previous([FrameTrace("t", ids, spans)], TOK)
    # copying the frame before: b's locals, c's line, e's (empty) locals and line are right
    assert score["locals_exact_match"] == pytest.approx(2 / 5)
    assert score["line_exact_match"] == pytest.approx(2 / 5)
    assert score["next_frame_exact_match"] == 0
    assert "locals_exact_match" not in score_copy_previous([FrameTrace("t", ids, spans)])


def test_a_frame_right_is_right_in_both_parts(trained):
    model, heldout = trained
    score = score_model(model, heldout, TOK)
    assert score["locals_exact_match"] >= score["next_frame_exact_match"] > 0
    assert score["line_exact_match"] >= score["next_frame_exact_match"]
    assert score["next_frame_exact_match"] == score_model(model, heldout)["next_frame_exact_match"]


def test_frames_past_the_context_are_not_scored():
    trace = record_trace(27)  # 111 steps: far longer than the context
    (ft,) = frame_traces(TOK, [trace], max_tokens=300, max_frames=10)
    assert 0 < len(ft.frames) < len(trace.frames) and ft.frames[-1][1] <= 300
    assert len(ft.ids) == ft.frames[-1][1]
