"""``cwm model`` and ``cwm convert`` through the real command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cwm.core.cli import build_cli


def cwm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["cwm", *args], capture_output=True, text=True, timeout=300)


def test_flavors_and_info_need_no_checkpoint() -> None:
    runner = CliRunner()
    out = runner.invoke(build_cli(), ["model", "flavors"])
    assert out.exit_code == 0 and "cwm-32b" in out.output and "32,581.1M" in out.output
    out = runner.invoke(build_cli(), ["model", "info", "tiny"])
    info = json.loads(out.output)
    assert info["config"]["vocab_size"] == 16_640 and info["layer_windows"][0] == 4096


def test_init_convert_and_load_through_the_cli(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from cwm.core.checkpoint import load_checkpoint

    done = cwm(
        "model",
        "init",
        "--flavor",
        "debug",
        "--seed",
        "3",
        "--set",
        "n_layers=3",
        str(tmp_path / "native"),
    )
    assert done.returncode == 0, done.stderr
    assert "wrote native checkpoint of debug" in done.stdout
    done = cwm("convert", str(tmp_path / "native"), str(tmp_path / "hf"), "--to", "hf")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "hf" / "model.safetensors").is_file()
    runner = CliRunner()
    out = runner.invoke(
        build_cli(), ["convert", str(tmp_path / "hf"), str(tmp_path / "meta"), "--to", "meta"]
    )
    assert out.exit_code == 0, out.output
    native, meta = load_checkpoint(tmp_path / "native"), load_checkpoint(tmp_path / "meta")
    assert native.config.n_layers == 3
    tokens = torch.randint(0, 16_640, (1, 80))  # longer than the debug flavor's local window
    with torch.no_grad():
        torch.testing.assert_close(meta(tokens), native(tokens))
    info = json.loads(runner.invoke(build_cli(), ["model", "info", str(tmp_path / "meta")]).output)
    assert info["format"] == "meta" and info["config"]["n_layers"] == 3


def test_generate_prints_a_continuation(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    runner = CliRunner()
    cli = build_cli()
    assert runner.invoke(cli, ["model", "init", "--flavor", "debug", str(tmp_path)]).exit_code == 0
    out = runner.invoke(
        cli, ["model", "generate", "--max-new-tokens", "4", str(tmp_path), "def f(x):"]
    )
    assert out.exit_code == 0, out.output
    assert out.output.startswith("def f(x):") and len(out.output) > len("def f(x):\n")


def test_user_errors_are_one_line_and_keep_data(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "notes.txt").write_text("mine")
    (tmp_path / "src").mkdir()
    done = cwm("convert", str(tmp_path / "src"), str(tmp_path / "dst"), "--to", "hf")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'dst'} exists and is not empty; choose a new directory"
    ]
    done = cwm("convert", str(tmp_path / "src"), str(tmp_path / "new"), "--to", "hf")
    assert done.returncode == 1 and "not a CWM checkpoint" in done.stderr
    assert (tmp_path / "dst" / "notes.txt").read_text() == "mine"
