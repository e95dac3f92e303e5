"""Exact match during the demo's training: scored at shares of the budget, logged, kept."""

from train_fixtures import collatz_config, collatz_dataset

from cwm.core.io import read_records
from cwm.core.tokenizer import Tokenizer
from cwm.train.demo.evaluate import frame_traces, score_model
from cwm.train.demo.probe import ExactMatchProbe
from cwm.train.metrics import read_metrics
from cwm.train.trainer import Trainer


def test_the_probe_scores_at_shares_of_the_budget_and_training_goes_on(tmp_path):
    data = collatz_dataset(tmp_path / "collatz")
    cfg = collatz_config(tmp_path / "run", data, steps=40)
    trainer = Trainer(cfg)
    traces = frame_traces(
        Tokenizer(), read_records(data / "heldout"), max_tokens=257, max_frames=60
    )
    probe = ExactMatchProbe(trainer.model, traces, budget=40.0, at=(0.25, 0.5, 0.75), share=1)
    modes = []

    def one_second_a_step(step, counters):  # a clock the test controls: step k ends at k s
        modes.append(trainer.model.training)
        return probe(step, {**counters, "wall": float(step)})

    trainer.run(on_step=one_second_a_step)
    assert [p["step"] for p in probe.points] == [10, 20, 30]
    assert all(modes)  # the model trains in training mode after each probe
    logged = [r for r in read_metrics(tmp_path / "run") if "probe_exact_match" in r]
    assert [(r["step"], r["probe_exact_match"]) for r in logged] == [
        (p["step"], p["exact_match"]) for p in probe.points
    ]
    probe.score(probe.step, probe.wall)  # after training: the trained model's own score
    final = score_model(trainer.model.eval(), traces)["next_frame_exact_match"]
    assert probe.points[-1] == {"step": 40, "train_seconds": 40.0, "exact_match": final}
    report = probe.report()
    assert report["traces"] == len(traces) and 60 <= report["frames"] < 60 + 40
    assert report["skipped"] == 0 and report["seconds"] > 0


def test_the_probe_keeps_to_its_share_of_the_budget(tmp_path):
    traces = frame_traces(
        Tokenizer(),
        read_records(collatz_dataset(tmp_path / "c") / "heldout"),
        max_tokens=257,
        max_frames=60,
    )
    from cwm.core.model import build_model
    from cwm.core.model.config import flavor

    model = build_model(flavor("debug"), seed=0)
    # training at 100 tokens/s: the subset would cost seconds, more than 1% of 100 s
    probe = ExactMatchProbe(model, traces, budget=100.0, share=0.01)
    slow = {"tokens": 100, "seconds": 1.0}
    assert all(probe(k, {**slow, "wall": w}) is None for k, w in enumerate((10, 30, 50, 70, 90)))
    assert probe.points == [] and probe.skipped == 4  # one per share of the budget passed
    # once a point's cost is known, it decides: a cheap point fits
    generous = ExactMatchProbe(model, traces, budget=100.0, share=0.5)
    assert generous(1, {"tokens": 10**9, "seconds": 1.0, "wall": 25.0}) is not None
    assert generous.cost is not None and generous.used == generous.cost
