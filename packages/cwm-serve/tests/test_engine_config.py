"""Engine settings: `cwm serve` checks them before it loads a model or listens, and the
block size is checked against the kernel that will read the blocks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from serve_fixtures import windowed_model

from cwm.core.cli import build_cli
from cwm.core.errors import CwmError
from cwm.serve.engine import EngineConfig, LLMEngine


@pytest.mark.parametrize(
    "override, message",
    [
        ("max_num_seqs=0", "config key max_num_seqs: must be an int >= 1, got 0"),
        ("max_num_batched_tokens=-1", "config key max_num_batched_tokens: must be an int >= 1"),
        ("block_size=0", "config key block_size: must be an int >= 1, got 0"),
        ("kv_cache_mib=0", "config key kv_cache_mib: must be an int >= 1, got 0"),
    ],
)
def test_out_of_range_engine_settings_are_one_line_errors(override, message):
    # max_num_seqs=0 used to start a server that accepted requests it could never run
    result = CliRunner().invoke(build_cli(), ["serve", "--random", "debug", "--set", override])
    assert result.exit_code == 1 and result.output.startswith(f"Error: {message}"), result.output


def test_the_block_size_defaults_to_what_each_kernel_reads():
    assert EngineConfig().resolve_block_size(flash=False) == 16
    assert EngineConfig().resolve_block_size(flash=True) == 256
    assert EngineConfig(block_size=512).resolve_block_size(flash=True) == 512
    assert EngineConfig(block_size=8).resolve_block_size(flash=False) == 8


def test_a_block_size_flash_attn_cannot_page_is_refused():
    with pytest.raises(CwmError, match="multiple of 256; set it to 256"):
        EngineConfig(block_size=16).resolve_block_size(flash=True)


def test_the_engine_refuses_an_empty_block():
    with pytest.raises(CwmError, match="block_size must be >= 1"):
        LLMEngine(windowed_model(), config=EngineConfig(block_size=0, kv_cache_mib=16))


@pytest.fixture(scope="module")
def truncated_checkpoint(tmp_path_factory):
    from cwm.core.checkpoint import save_checkpoint
    from cwm.core.model import build_model, flavor

    path = tmp_path_factory.mktemp("truncated") / "ckpt"
    save_checkpoint(build_model(flavor("debug"), seed=0), path)
    [shard] = path.glob("*.distcp")
    shard.write_bytes(shard.read_bytes()[:1000])
    return path


def test_serve_and_debug_refuse_a_truncated_checkpoint_in_one_line(truncated_checkpoint, tmp_path):
    program = tmp_path / "prog.py"
    program.write_text("def f(x):\n    return x + 1\n")
    for args in (
        ["serve", "--checkpoint", str(truncated_checkpoint)],
        [
            "debug",
            str(program),
            "--call",
            "f(1)",
            "--checkpoint",
            str(truncated_checkpoint),
            "--steps",
            "1",
        ],
    ):
        result = CliRunner().invoke(build_cli(), args)
        assert result.exit_code == 1, result.output
        assert "__0_0.distcp is 1,000 bytes" in result.output and "truncated" in result.output
        assert result.output.strip().splitlines()[-1].startswith("Error: "), result.output
