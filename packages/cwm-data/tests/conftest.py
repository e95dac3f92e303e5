"""Shared fixtures: a Docker backend with real repository images, and a tiny local repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from swe_fixtures import REAL_REPOS, make_tiny_repo

from cwm.data.sandbox.repo import PreparedRepo, prepare_repo
from cwm.data.sandbox.testing import docker_session

docker = pytest.fixture(scope="session", name="docker")(docker_session)


@pytest.fixture(scope="session")
def inflection() -> PreparedRepo:
    return prepare_repo(REAL_REPOS[0])


@pytest.fixture(scope="session")
def inflection_image(docker, inflection: PreparedRepo) -> str:
    return docker.build_repo_image(inflection)


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    return make_tiny_repo(tmp_path / "tiny")
