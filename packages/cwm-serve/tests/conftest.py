"""Session setup for cwm-serve's tests."""

import torch

# The models here are tiny: one thread is fastest, and on a shared 2-core machine
# two threads spin against other processes (10x slower under load).
torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def memorized_checkpoint(tmp_path_factory):
    """A small model that learned the conversations and the trace in `memorized`."""
    from memorized import build

    return build(tmp_path_factory.mktemp("memorized") / "ckpt")


@pytest.fixture(scope="session")
def server(memorized_checkpoint):
    """``cwm serve`` on the memorized model; yields the /v1 base URL."""
    from serve_fixtures import running_server

    with running_server("--checkpoint", str(memorized_checkpoint), "--set", "kv_cache_mib=32",
                        "--model-name", "memorized") as url:  # fmt: skip
        yield url
