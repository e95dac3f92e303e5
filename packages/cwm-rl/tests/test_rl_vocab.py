"""A policy with another vocabulary than the default (the `cwm demo` model's 4k one):
the RL run's environments, its engine and `cwm eval` all encode with the policy's."""

from __future__ import annotations

import json

import msgspec
import pytest
from rl_fixtures import TRACE_ROWS, write_rows

from cwm.core.checkpoint import save_checkpoint
from cwm.core.envs import Action, Rollout, Transition
from cwm.core.errors import CwmError
from cwm.core.model import FLAVORS, build_model
from cwm.core.plugins import hookimpl, register_plugin, unregister_plugin
from cwm.core.tokenizer import Tokenizer
from cwm.rl.eval.run import evaluate
from cwm.rl.eval.task import Task, create_environment, load_task
from cwm.rl.policies.engine import EnginePolicy
from cwm.rl.run.config import load_rl_config
from cwm.rl.run.loop import RLRun

SMALL_4K = {"flavor": "debug", "vocab": "cwm-code-4k", "vocab_size": 4352}


def rows(tmp_path):
    return write_rows(tmp_path / "traces.jsonl", TRACE_ROWS)


def test_rl_environments_and_engine_encode_with_the_policys_vocabulary(tmp_path):
    model = ", ".join(f"{k} = {json.dumps(v)}" for k, v in SMALL_4K.items())
    path = tmp_path / "rl.toml"
    path.write_text(f"""
run_dir = "{tmp_path / "run"}"
steps = 1
groups_per_step = 2
group_size = 2
model = {{ {model} }}
[sampling]
max_tokens = 16
[[tasks]]
name = "trace"
environment = "trace-prediction"
env_options = {{ mode = "next-frame" }}
data = "{rows(tmp_path)}"
reward = "frames-exact"
""")
    run = RLRun(load_rl_config(path), progress=False)
    task = run.tasks["trace"]
    assert task.env.tok.vocab == "cwm-code-4k"
    # an exact frame, ended by the 4k vocabulary's <|frame_sep|>, earns its reward
    frame_sep = Tokenizer("cwm-code-4k").token_id("<|frame_sep|>")
    rollout = Rollout("r", [1])
    rollout.add(Action(tokens=[7, frame_sep]), Transition(outcomes={"frame_hits": "1"}))
    assert task.reward(rollout) == [0.0, 1.0]
    summary = run.run()
    assert run.actor.engine.tokenizer.vocab == "cwm-code-4k"
    assert summary["steps"] == 1


def test_eval_encodes_with_the_engine_policys_vocabulary(tmp_path):
    config = msgspec.structs.replace(FLAVORS["debug"], vocab="cwm-code-4k", vocab_size=4352)
    save_checkpoint(build_model(config, seed=0), tmp_path / "ckpt")
    policy = EnginePolicy.from_checkpoint(tmp_path / "ckpt")
    task = load_task("trace-prediction-next-frame", ["sampling.max_tokens=8"])
    try:
        summary = evaluate(
            task, policy, out=tmp_path / "ev", data=rows(tmp_path), limit=1, progress=False
        )
    finally:
        policy.close()
    assert summary["rows"] >= 1 and policy.tokenizer.vocab == "cwm-code-4k"


class FixedVocabEnv:
    """A plugin environment that takes no tokenizer and always encodes with the default."""

    def __init__(self):
        self.tok = Tokenizer()


class FixedVocabPlugin:
    @hookimpl
    def register_environments(self):
        return {"fixed-vocab": FixedVocabEnv}


def test_an_environment_of_another_vocabulary_than_the_policys_is_a_one_line_error():
    register_plugin(FixedVocabPlugin(), "fixed-vocab")
    try:
        task = Task(name="t", environment="fixed-vocab")
        assert create_environment(task, Tokenizer()).tok.vocab == "cwm-code-16k"
        with pytest.raises(CwmError, match=r"set env_options\.tokenizer=cwm-code-4k"):
            create_environment(task, Tokenizer("cwm-code-4k"))
    finally:
        unregister_plugin("fixed-vocab")
