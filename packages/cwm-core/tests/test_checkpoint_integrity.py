"""A damaged checkpoint, or one whose config disagrees with its tensors, is a one-line
error in every command that reads it, never a traceback or a silently wrong conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from cwm.core.checkpoint import convert, load_checkpoint, save_checkpoint, verify  # noqa: E402
from cwm.core.cli import build_cli  # noqa: E402
from cwm.core.errors import CwmError  # noqa: E402
from cwm.core.model import ModelConfig, build_model  # noqa: E402

# the embedded tokenizer's vocabulary, so that `cwm model generate` can run on it
CONFIG = ModelConfig(
    dim=32,
    n_layers=2,
    n_heads=2,
    n_kv_heads=1,
    head_dim=16,
    ffn_dim=64,
    window_pattern=2,
    local_window=16,
    global_window=128,
    max_seq_len=128,
)


def cwm(*args: str):
    return CliRunner().invoke(build_cli(), list(args))


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1, (
        result.output
    )
    for fragment in fragments:
        assert fragment in result.output, result.output
    return result.output


@pytest.fixture(scope="module")
def native_ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("native") / "ckpt"
    save_checkpoint(build_model(CONFIG, seed=0), path)
    return path


def copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def truncated(src: Path, dst: Path, suffix: str) -> Path:
    copy(src, dst)
    [data] = dst.glob(f"*{suffix}")
    data.write_bytes(data.read_bytes()[:1000])
    return dst


def with_dim(src: Path, dst: Path, config_file: str, key: str) -> Path:
    copy(src, dst)
    doc = json.loads((dst / config_file).read_text())
    target = doc.get("model", doc)
    target[key] *= 2
    (dst / config_file).write_text(json.dumps(doc))
    return dst


def test_a_save_records_the_sizes_of_its_tensor_files(native_ckpt):
    files = json.loads((native_ckpt / "cwm_model.json").read_text())["files"]
    assert set(files) == {".metadata", *(p.name for p in native_ckpt.glob("*.distcp"))}
    assert all(files[n] == (native_ckpt / n).stat().st_size for n in files)
    assert verify(native_ckpt) == ("native", CONFIG)


def test_a_truncated_distcp_fails_every_command_in_one_line(native_ckpt, tmp_path):
    bad = truncated(native_ckpt, tmp_path / "bad", ".distcp")
    # model info used to exit 0 on it; generate and convert gave tracebacks
    one_line_error(cwm("model", "info", str(bad)), "__0_0.distcp", "truncated")
    one_line_error(cwm("model", "generate", str(bad), "def"), "truncated")
    one_line_error(cwm("convert", str(bad), str(tmp_path / "hf"), "--to", "hf"), "truncated")
    assert not (tmp_path / "hf").exists()
    with pytest.raises(CwmError, match="truncated"):
        load_checkpoint(bad)


def test_a_file_whose_size_changed_since_the_save_is_caught(native_ckpt, tmp_path):
    bad = copy(native_ckpt, tmp_path / "grown")
    [data] = bad.glob("*.distcp")
    data.write_bytes(data.read_bytes() + b"\0" * 10)
    one_line_error(cwm("model", "info", str(bad)), "bytes but", "were saved")


def test_a_checkpoint_saved_without_sizes_still_shows_a_truncation(native_ckpt, tmp_path):
    bad = truncated(native_ckpt, tmp_path / "old", ".distcp")
    doc = json.loads((bad / "cwm_model.json").read_text())
    del doc["files"]  # as written before sizes were recorded
    (bad / "cwm_model.json").write_text(json.dumps(doc))
    one_line_error(cwm("model", "info", str(bad)), "its tensors end at byte")


def test_a_missing_metadata_file_is_one_line(native_ckpt, tmp_path):
    bad = copy(native_ckpt, tmp_path / "nometa")
    (bad / ".metadata").unlink()
    one_line_error(cwm("model", "info", str(bad)), ".metadata is missing")


def test_a_config_whose_dim_disagrees_with_the_tensors_is_refused(native_ckpt, tmp_path):
    bad = with_dim(native_ckpt, tmp_path / "dim", "cwm_model.json", "dim")
    message = one_line_error(cwm("model", "info", str(bad)), "dim=64", "[16640, 32]")
    assert "tok_embeddings.weight" in message
    # convert used to write a silently wrong HF checkpoint from it
    one_line_error(cwm("convert", str(bad), str(tmp_path / "hf"), "--to", "hf"), "dim=64")
    assert not (tmp_path / "hf").exists()
    one_line_error(cwm("model", "generate", str(bad), "def"), "dim=64")


def test_hf_and_meta_checkpoints_are_checked_too(native_ckpt, tmp_path):
    hf = tmp_path / "hf"
    convert(native_ckpt, hf, to="hf")
    assert verify(hf) == ("hf", CONFIG)
    cut = truncated(hf, tmp_path / "hf-cut", ".safetensors")
    one_line_error(cwm("model", "info", str(cut)), "cannot read the hf checkpoint")
    wide = with_dim(hf, tmp_path / "hf-dim", "config.json", "hidden_size")
    one_line_error(cwm("convert", str(wide), str(tmp_path / "x"), "--to", "native"), "dim=64")
    meta = tmp_path / "meta"
    convert(native_ckpt, meta, to="meta")
    wide = with_dim(meta, tmp_path / "meta-dim", "params.json", "dim")
    one_line_error(cwm("model", "info", str(wide)), "params.json", "dim=64")
    cut = truncated(meta, tmp_path / "meta-cut", ".pth")
    one_line_error(cwm("model", "info", str(cut)), "cannot read the meta checkpoint")
