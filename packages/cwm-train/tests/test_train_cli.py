"""`cwm train`, `cwm train plot` and the stage presets."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from train_fixtures import collatz_dataset, write_toml

from cwm.core.cli import build_cli
from cwm.train.config import load_train_config

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.toml"))


def cwm(*args: str):
    return CliRunner().invoke(build_cli(), list(args))


def test_help():
    for args in (["train"], ["train", "plot"], ["demo"]):
        result = cwm(*args, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output, args
    assert "plot" in cwm("train", "--help").output


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_stage_presets_load(path):
    cfg = load_train_config(path)
    assert cfg.model_config().n_layers > 0 and cfg.data.sources


def test_presets_cover_the_three_stages():
    names = {p.stem for p in CONFIGS}
    assert {"pretrain-tiny", "midtrain-tiny", "sft-tiny", "pretrain-cwm-32b"} <= names


def test_train_then_plot(tmp_path):
    data = collatz_dataset(tmp_path / "collatz", train=20, heldout=4)
    cfg = load_train_config(
        overrides=[
            f"run_dir={tmp_path / 'run'}",
            "steps=3",
            "model.flavor=debug",
            f'data.sources=[{{path = "{data}"}}]',
            "data.seq_len=64",
        ]
    )
    result = cwm("train", "--config", str(write_toml(tmp_path / "run.toml", cfg)), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "3 steps, loss" in result.output and "checkpoint:" in result.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 3
    plotted = cwm("train", "plot", str(tmp_path / "run"))
    assert plotted.exit_code == 0 and (tmp_path / "run" / "curves.png").stat().st_size > 10_000


def test_mistakes_are_one_line_errors(tmp_path):
    result = cwm("train")
    assert result.exit_code == 1 and result.output.startswith(
        "Error: config key data.sources: no training data"
    )
    bad = cwm("train", "--set", "optim.lr=fast")
    assert bad.exit_code == 1 and "config key optim.lr: expected float" in bad.output
    flavor = cwm("train", "--set", "model.flavor=huge", "--set", 'data.sources=[{path = "x"}]')
    assert flavor.exit_code == 1 and "unknown model flavor 'huge'" in flavor.output
    assert cwm("train", "plot", str(tmp_path)).output.startswith("Error: ")


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.window=0", "config key data.window: must be an int >= 1, got 0"),
        ("data.seq_len=0", "config key data.seq_len: must be an int >= 1, got 0"),
        ("data.batch_size=0", "config key data.batch_size: must be an int >= 1, got 0"),
        ("grad_accum=0", "config key grad_accum: must be an int >= 1, got 0"),
        ("optim.lr=-1", "config key optim.lr: must be a number >= 0, got -1"),
        ("steps=-1", "config key steps: must be an int >= 1, got -1"),
        ("optim.beta2=1", "config key optim.beta2: must be a number >= 0 and < 1, got 1"),
        ("model.dim=0", "config key model.dim: must be an int >= 1, got 0"),
    ],
)
def test_out_of_range_values_stop_before_training(override, message):
    # data.window=0 used to spin forever; the others ended in tracebacks or "loss nan"
    result = cwm("train", "--set", 'data.sources=[{path = "x"}]', "--set", override)
    assert result.exit_code == 1 and result.output.startswith(f"Error: {message}"), result.output
    assert len(result.output.strip().splitlines()) == 1
