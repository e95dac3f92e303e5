"""Out-of-range settings of `cwm trace`, `cwm data build` and `cwm forage` stop at once,
with one line that names the key and the allowed range."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cwm.core.cli import build_cli


def cwm(*args: str):
    return CliRunner().invoke(build_cli(), list(args))


def assert_one_line_error(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: {message}"), result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "override, message",
    [
        ("max_steps=-5", "config key max_steps: must be an int >= 1, got -5"),
        ("memory_mb=-1", "config key memory_mb: must be an int >= 0, got -1"),
        ("max_seconds=-1", "config key max_seconds: must be a number > 0, got -1"),
        ("tasks_per_process=0", "config key tasks_per_process: must be an int >= 1, got 0"),
    ],
)
def test_trace_run_rejects_out_of_range_limits(tmp_path, override, message):
    source = tmp_path / "f.py"
    source.write_text("def f(x):\n    return x\n")
    result = cwm("trace", "run", str(source), "--call", "f(1)", "--set", override)
    assert_one_line_error(result, message)


@pytest.mark.parametrize(
    "override, message",
    [
        ("trace.max_steps=-5", "config key trace.max_steps: must be an int >= 1, got -5"),
        ("heldout_fraction=1.5", "config key heldout_fraction: must be a number >= 0 and <= 1"),
        ("shard_size=0", "config key shard_size: must be an int >= 1, got 0"),
    ],
)
def test_data_build_rejects_out_of_range_settings(tmp_path, override, message):
    result = cwm("data", "build", "--out", str(tmp_path / "out"), "--set", override)
    assert_one_line_error(result, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tasks", "-3"], "config key tasks: must be an int >= 1, got -3"),
        (["--attempts", "0"], "config key attempts: must be an int >= 1, got 0"),
        (["--set", "env.max_turns=0"], "config key env.max_turns: must be an int >= 1, got 0"),
        (
            ["--set", "env.command_timeout=-1"],
            "config key env.command_timeout: must be a number > 0",
        ),
    ],
)
def test_forage_rejects_out_of_range_settings(tmp_path, args, message):
    # `--tasks -3` used to exit 0 having done nothing
    result = cwm("forage", "--repo", str(tmp_path), "--out", str(tmp_path / "out"), *args)
    assert_one_line_error(result, message)
