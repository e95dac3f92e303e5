"""A model that learned the answers scores 100%, an untrained one about 0, in process and
through the official openai client against ``cwm serve``, with the same tokens."""

import json

import pytest
from rl_fixtures import MEMORIZER, OUTPUT_ROWS, TRACE_ROWS, write_rows

from cwm.core.checkpoint import save_checkpoint
from cwm.core.model import build_model
from cwm.rl.eval.run import evaluate
from cwm.rl.eval.task import load_task
from cwm.rl.policies import EnginePolicy, OpenAIPolicy
from cwm.serve.engine import EngineConfig
from cwm.serve.testing import running_server

pytest.importorskip("openai")

TASKS = {
    "output-prediction": "outputs",
    "input-prediction": "outputs",
    "output-prediction-trace": "outputs",
    "trace-prediction": "traces",
    "trace-prediction-next-frame": "traces",
}
#: short replies keep the untrained model's never-ending ones cheap
CAP = ["sampling.max_tokens=200"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rows")
    return {
        "outputs": write_rows(root / "outputs.jsonl", OUTPUT_ROWS),
        "traces": write_rows(root / "traces.jsonl", TRACE_ROWS),
    }


def run_all(policy, data, out):
    summaries, samples = {}, {}
    for name, rows in TASKS.items():
        summaries[name] = evaluate(
            load_task(name, CAP), policy, out=out / name, data=data[rows], progress=False
        )
        lines = (out / name / "samples.jsonl").read_text().splitlines()
        samples[name] = sorted((json.loads(x) for x in lines), key=lambda s: s["id"])
    return summaries, samples


@pytest.fixture(scope="module")
def in_process(memorized_checkpoint, data, tmp_path_factory):
    policy = EnginePolicy.from_checkpoint(memorized_checkpoint, EngineConfig(kv_cache_mib=32))
    try:
        return run_all(policy, data, tmp_path_factory.mktemp("in-process"))
    finally:
        policy.close()


def test_the_memorized_model_scores_full_marks_in_process(in_process):
    summaries, samples = in_process
    for name, summary in summaries.items():
        assert summary["score"] == 1.0, (name, summary)
        for s in samples[name]:
            # the score agrees with a direct reading of the outcomes
            if name.startswith("trace"):
                assert s["outcomes"]["frames_exact"] == 1.0
            else:
                assert s["outcomes"]["pass"] is True
            assert s["policy_version"] == 0 and s["response_tokens"]


def test_the_untrained_model_scores_about_zero(data, tmp_path):
    save_checkpoint(build_model(MEMORIZER, seed=1), tmp_path / "ckpt")
    policy = EnginePolicy.from_checkpoint(tmp_path / "ckpt", EngineConfig(kv_cache_mib=32))
    try:
        summaries, samples = run_all(policy, data, tmp_path / "runs")
    finally:
        policy.close()
    for name, summary in summaries.items():
        assert summary["score"] <= 0.1, (name, summary)
        # garbage that never stops still ends in an outcome and a reward
        assert all(s["finish"] == "answered" for s in samples[name])
        assert all(isinstance(s["reward"], float) for s in samples[name])


def test_the_server_gives_the_same_scores_and_tokens(
    memorized_checkpoint, data, in_process, tmp_path
):
    expected_summaries, expected_samples = in_process
    with running_server(
        "--checkpoint", str(memorized_checkpoint), "--set", "kv_cache_mib=32", "--threads", "1"
    ) as url:
        policy = OpenAIPolicy(url)
        assert policy.context_len == MEMORIZER.max_seq_len  # from /v1/models
        summaries, samples = run_all(policy, data, tmp_path)
    for name in TASKS:
        assert summaries[name]["score"] == expected_summaries[name]["score"] == 1.0
        got = [(s["id"], s["response_tokens"], s["outcomes"]) for s in samples[name]]
        want = [(s["id"], s["response_tokens"], s["outcomes"]) for s in expected_samples[name]]
        assert got == want, name
