"""EngineConfig values checked against the kernels that will use them."""

from __future__ import annotations

import pytest
from serve_fixtures import windowed_model

from cwm.core.errors import CwmError
from cwm.serve.engine import EngineConfig, LLMEngine


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
