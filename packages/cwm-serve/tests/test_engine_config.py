"""`cwm serve` checks its engine settings before it loads a model or listens."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cwm.core.cli import build_cli


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
