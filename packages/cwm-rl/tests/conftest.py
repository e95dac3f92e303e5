"""Docker fixtures for the end-to-end reward tests (see cwm.data.sandbox.testing)."""

from __future__ import annotations

import pytest

from cwm.data.sandbox.testing import docker_session

docker = pytest.fixture(scope="session", name="docker")(docker_session)
