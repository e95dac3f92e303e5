"""The ``swe`` and ``swe-testgen`` environments in the real Docker engine (containers without
network): the oracle resolves and reproduces; a flood and a hang come back as observations."""

from __future__ import annotations

from pathlib import Path

import pytest
from episodes import play, play_texts
from swe_repo import make_repo, swebench_row

from cwm.core.plugins import registry
from cwm.data.sandbox import prepare_repo


@pytest.fixture(scope="module")
def image(docker, tmp_path_factory: pytest.TempPathFactory) -> str:
    repo = make_repo(tmp_path_factory.mktemp("docker-swe") / "mylib")
    return docker.build_repo_image(prepare_repo(Path(repo)))


def _env(name: str, docker, **options):
    # the session's backend, whose containers are checked at the end of the suite
    return registry("environment").create(name, backend=docker, command_timeout=5.0, **options)


def test_the_oracle_resolves_in_docker(docker, image: str) -> None:
    env = _env("swe", docker)
    rollout = play(env, swebench_row(image))
    assert rollout.finish == "submitted" and rollout.outcomes["pass"]


def test_the_oracle_test_reproduces_in_docker(docker, image: str) -> None:
    env = _env("swe-testgen", docker)
    out = play(env, swebench_row(image)).outcomes
    assert out["pass"] and out["fails_before"] and out["passes_after"]


def test_floods_and_hangs_are_observations_in_docker(docker, image: str) -> None:
    env = _env("swe", docker, max_turns=4)
    replies = [
        "<tool: bash>\nsleep 60\n</tool>",
        "<tool: bash>\nyes | head -c 5000000\n</tool>",
        "<tool: bash>\npython -c 'import socket; socket.create_connection((\"1.1.1.1\", 80))'\n</tool>",
        "<tool: bash>\necho still here\n</tool>",
    ]
    rollout = play_texts(env, swebench_row(image), replies)
    assert rollout.finish == "turns" and rollout.outcomes["pass"] is False
    assert "timed out" in env.tok.decode(rollout.transitions[0].observation)
    assert len(env.tok.decode(rollout.transitions[1].observation)) < 200_000
    assert "unreachable" in env.tok.decode(rollout.transitions[2].observation)  # no network
