"""Session setup for cwm-serve's tests."""

import torch

# The models here are tiny: one thread is fastest, and on a shared 2-core machine
# two threads spin against other processes (10x slower under load).
torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def memorized_checkpoint(tmp_path_factory):
    """A small model that learned the conversations in `memorized`."""
    from memorized import build_chat

    return build_chat(tmp_path_factory.mktemp("memorized") / "ckpt")


@pytest.fixture(scope="session")
def trace_checkpoint(tmp_path_factory):
    """A small model that learned the trace of `memorized.CALL` (needs a tracer plugin)."""
    from memorized import actual_trace, build_tracer

    trace = actual_trace()
    if trace is None:
        pytest.skip("no tracer plugin installed (cwm-data)")
    return build_tracer(tmp_path_factory.mktemp("traced") / "ckpt", trace)


@pytest.fixture(scope="session")
def server(memorized_checkpoint):
    """``cwm serve`` on the memorized model; yields the /v1 base URL."""
    from cwm.serve.testing import running_server

    with running_server(
        "--checkpoint",
        str(memorized_checkpoint),
        "--set",
        "kv_cache_mib=32",
        "--threads",
        "1",
        "--model-name",
        "memorized",
    ) as url:
        yield url
