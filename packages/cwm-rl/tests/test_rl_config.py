"""The RL config: presets load, mistakes get one line that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.core.config import ConfigError, load_config
from cwm.core.errors import CwmError
from cwm.core.plugins import registry
from cwm.rl.eval.task import load_task
from cwm.rl.run.config import RLConfig, load_rl_config
from cwm.rl.run.mixture import Mixture

CONFIGS = Path(__file__).parents[1] / "configs"


@pytest.mark.parametrize("name", ["rl-tiny", "rl-cwm-32b"])
def test_presets_load(name):
    cfg = load_config(RLConfig, CONFIGS / f"{name}.toml")
    assert cfg.tasks and cfg.model_config()
    for task in cfg.tasks:  # the names of installed plugins, not names that were planned
        registry("environment").get(task.environment)
        registry("reward").get(task.reward)
    load_task(cfg.heldout.task, cfg.heldout.set)


def test_tiny_preset_names_the_trace_and_output_prediction_tasks():
    cfg = load_config(RLConfig, CONFIGS / "rl-tiny.toml")
    assert [t.environment for t in cfg.tasks] == ["trace-prediction", "output-prediction"]


def test_config_errors_say_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match=r"no tasks; add \[\[tasks\]\]"):
        load_rl_config(None, [])
    path = tmp_path / "rl.toml"
    path.write_text('[[tasks]]\nname = "a"\nenvironment = "e"\nreward = "r"\n')
    with pytest.raises(ConfigError, match=r"config key init: .* is not a checkpoint directory"):
        load_rl_config(path, ["init=/nonexistent"])
    with pytest.raises(ConfigError, match="max_lag"):
        load_rl_config(path, ["max_lag=-1"])
    with pytest.raises(ConfigError, match=r"heldout\.samples \(>= 1\)"):
        load_rl_config(path, ["heldout.samples=0"])
    with pytest.raises(ConfigError, match="config key max_lagg: unknown key"):
        load_rl_config(path, ["max_lagg=1"])
    with pytest.raises(ConfigError, match="learner_tp=2 must divide learners=3"):
        load_rl_config(path, ["learners=3", "learner_tp=2"])


def test_cli_reports_a_bad_config_in_one_line(tmp_path):
    result = CliRunner().invoke(build_cli(), ["rl", "--set", "steps=1"])
    assert result.exit_code != 0 and "no tasks" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_mixture_draws_by_weight_and_resumes_where_it_stopped():
    rows = {"a": [{"id": i} for i in range(3)], "b": [{"id": i} for i in range(5)]}
    mix = Mixture(rows, {"a": 1.0, "b": 3.0}, seed=0)
    first = [mix.draw() for _ in range(10)]
    state = mix.state_dict()
    rest = [mix.draw() for _ in range(30)]
    again = Mixture(rows, {"a": 1.0, "b": 3.0}, seed=0)
    again.load_state_dict(state)
    assert [again.draw() for _ in range(30)] == rest
    drawn_a = [r for t, r in first + rest if t == "a"]
    for epoch in range(len(drawn_a) // 3):  # every row once per epoch
        assert sorted(drawn_a[3 * epoch : 3 * epoch + 3]) == [0, 1, 2]
    assert sum(t == "b" for t, _ in first + rest) > sum(t == "a" for t, _ in first + rest)


def test_rl_and_eval_share_one_task_and_one_sampling_schema(tmp_path):
    path = tmp_path / "rl.toml"
    path.write_text(
        '[sampling]\nmax_tokens = 8\n[[tasks]]\nname = "a"\nenvironment = "trace-prediction"\n'
        'env_options = { mode = "next-frame" }\nreward = "frames-exact"\n'
    )
    cfg = load_rl_config(path)
    # RL's sampling defaults survive a partial [sampling] table (eval's are greedy, 512)
    assert (cfg.sampling.temperature, cfg.sampling.max_tokens) == (1.0, 8)
    assert type(cfg.tasks[0]) is type(load_task("trace-prediction"))
    with pytest.raises(ConfigError, match=r"sampling\.top_p"):
        load_rl_config(path, ["sampling.top_p=0.9"])
    with pytest.raises(CwmError, match="task a: max_turns is not read by cwm rl"):
        load_rl_config(path, ["tasks=[{name='a', environment='math', max_turns=3}]"])
    path.write_text(path.read_text().replace("env_options", "environment_options"))
    with pytest.raises(ConfigError, match="it is now env_options"):
        load_rl_config(path)
    with pytest.raises(CwmError, match="weight is not read by cwm eval"):
        load_task("trace-prediction", ["weight=2.0"])
