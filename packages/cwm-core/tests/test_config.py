from typing import Annotated

import msgspec
import pytest

from cwm.core.config import (
    AtLeast0,
    AtLeast1,
    Config,
    ConfigError,
    Fraction,
    NonNegative,
    Positive,
    convert_config,
    load_config,
    parse_overrides,
    to_dict,
)


class Optim(Config):
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.95)


class Model(Config):
    dim: int = 64
    name: str = "tiny"
    compile: bool = False


class Run(Config):
    model: Model = Model()
    optim: Optim = Optim()
    steps: int = 100


def test_defaults_run_without_a_file():
    assert load_config(Run) == Run()


def test_layers_file_then_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("steps = 5\n[model]\ndim = 128\nname = 'small'\n")
    cfg = load_config(
        Run,
        path,
        ["model.dim=256", "optim.lr=1e-3", "model.compile=true", "optim.betas=[0.8, 0.9]"],
        preset={"steps": 7, "model": {"name": "preset"}},
    )
    assert cfg.steps == 5 and cfg.model == Model(dim=256, name="small", compile=True)
    assert cfg.optim == Optim(lr=1e-3, betas=(0.8, 0.9))
    assert to_dict(cfg)["model"]["dim"] == 256


def test_text_that_looks_like_a_number_stays_text_for_str_fields():
    assert load_config(Run, overrides=["model.name=123"]).model.name == "123"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.dim=big"], "config key model.dim: expected int, got str 'big' (defaults + --set)"),
        (["model.dimension=3"], "config key model.dimension: unknown key (defaults + --set)"),
        (["steps"], "--set expects KEY=VALUE with a dotted KEY, got 'steps'"),
        (["optim.betas=[0.9,"], "--set value '[0.9,' is not valid TOML"),
        (
            ["steps=1", "steps.x=2"],
            "--set 'steps.x=2': 'steps' is set to a value and also used as a table",
        ),
    ],
)
def test_errors_name_the_key_and_the_expected_type(overrides, message):
    with pytest.raises(ConfigError) as exc:
        load_config(Run, overrides=overrides)
    assert str(exc.value).startswith(message)


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Run, tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        load_config(Run, bad)
    typed = tmp_path / "typed.toml"
    typed.write_text("[model]\ndim = 'x'\n")
    with pytest.raises(
        ConfigError, match=r"model\.dim: expected int, got str 'x' \(defaults \+ .*typed\.toml\)"
    ):
        load_config(Run, typed)


def test_parse_overrides_builds_nested_tables():
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": "1"}, "d": "x"}}


class Ranged(Config):
    window: AtLeast1 = 512
    workers: AtLeast0 = 0
    lr: Positive = 1e-3
    clip: NonNegative = 1.0
    share: Fraction = 0.5
    beta: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.9
    limit: AtLeast1 | None = None
    optim: Optim = Optim()


@pytest.mark.parametrize(
    "override, message",
    [
        ("window=0", "config key window: must be an int >= 1, got 0 (defaults + --set)"),
        ("workers=-3", "config key workers: must be an int >= 0, got -3"),
        ("lr=-1", "config key lr: must be a number > 0, got -1"),
        ("lr=nan", "config key lr: must be a number > 0, got nan"),
        ("clip=-0.5", "config key clip: must be a number >= 0, got -0.5"),
        ("share=2", "config key share: must be a number >= 0 and <= 1, got 2"),
        ("beta=1", "config key beta: must be a number >= 0 and < 1, got 1"),
        ("limit=0", "config key limit: must be an int >= 1, got 0"),
    ],
)
def test_out_of_range_values_name_the_key_and_the_range(override, message):
    with pytest.raises(ConfigError) as exc:
        load_config(Ranged, overrides=[override])
    assert str(exc.value).startswith(message)


def test_a_range_error_in_a_file_shows_the_typed_value(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("window = 0\n")
    with pytest.raises(ConfigError, match=r"^config key window: must be an int >= 1, got 0 \("):
        load_config(Ranged, path)


def test_values_in_range_load():
    cfg = load_config(Ranged, overrides=["window=1", "share=1", "beta=0", "limit=3"])
    assert (cfg.window, cfg.share, cfg.beta, cfg.limit) == (1, 1.0, 0.0, 3)


def test_convert_config_prefixes_the_key():
    with pytest.raises(ConfigError, match=r"^config key model\.window: must be an int >= 1"):
        convert_config(Ranged, {"window": 0}, source="x", prefix="model")
