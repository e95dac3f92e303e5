"""Docker fixtures for the end-to-end reward tests (see cwm.data.sandbox.testing)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def docker():
    from cwm.data.sandbox.testing import docker_backend, leftover_containers

    backend = docker_backend()
    yield backend
    left = leftover_containers(backend.client)
    for cid in left:
        backend.client.containers.get(cid).remove(force=True)
    assert not left, f"containers left behind by the suite: {left}"
