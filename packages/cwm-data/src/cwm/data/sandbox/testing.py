"""Helpers for test suites that need the Docker engine (cwm-data's and cwm-rl's).

`docker_backend()` starts the engine and builds the base image when it can
(as root: what ``cwm sandbox setup`` does) and otherwise skips the calling test
with the reason. `leftover_containers()` lists this process's containers, which
a suite checks at its end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from cwm.core.errors import CwmError


def docker_backend(**options: Any) -> Any:
    """A `DockerBackend` with the base image present, or ``pytest.skip`` saying why not."""
    import pytest

    from cwm.data.sandbox import images
    from cwm.data.sandbox.containers import DockerBackend
    from cwm.data.sandbox.engine import client, start_engine

    if os.environ.get("CWM_NO_DOCKER"):
        pytest.skip("CWM_NO_DOCKER is set")
    try:
        start_engine()
        images.build_base_image(client())
    except CwmError as exc:
        pytest.skip(f"no Docker engine with the cwm base image: {exc}")
    return DockerBackend(**options)


def leftover_containers(client: Any) -> list[str]:
    """Ids of containers owned by this process that still exist."""
    from cwm.data.sandbox.reaper import LABEL, SESSION

    found = client.containers.list(
        all=True, filters={"label": [f"{LABEL}=1", f"cwm.session={SESSION}"]}
    )
    return [c.id for c in found]


def docker_session(**options: Any) -> Iterator[Any]:
    """A test session's Docker backend (use as a session fixture); at the end no container
    the session created may remain: leftovers are removed and the session fails."""
    backend = docker_backend(**options)
    yield backend
    left = leftover_containers(backend.client)
    for cid in left:
        backend.client.containers.get(cid).remove(force=True)
    assert not left, f"containers left behind by the suite: {left}"
