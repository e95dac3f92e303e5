"""`cwm forage --sandbox auto` on an engine without the base image builds it then and there,
with progress, instead of stopping. The root filesystem comes from the machine's present
base image instead of the Debian mirror (tests never reach the network); the rest (the
progress bar, docker import, the repository image, the episode) is the real path."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.data.sandbox import images
from cwm.data.sandbox.repo import prepare_repo


def test_forage_auto_builds_a_missing_base_image_with_progress(
    docker, tiny_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    present = images.base_tag()  # docker_session made sure it exists
    missing = f"cwm-base:test-{secrets.token_hex(4)}"
    monkeypatch.setattr(images, "base_tag", lambda: missing)

    def local_rootfs(root: Path) -> list[str]:
        copy = (
            f"mkdir -p {root} && cid=$(docker create {present} true) && "
            f"docker export $cid | tar -x -C {root} && docker rm $cid >/dev/null && "
            "echo 'I: Base system installed successfully.'"
        )
        return ["sh", "-c", copy]

    monkeypatch.setattr(images, "debootstrap_argv", local_rootfs)
    assert not images.has_image(docker.client, missing)
    repo_image = images.repo_tag(prepare_repo(tiny_repo))  # its digest names the test's base
    try:
        result = CliRunner().invoke(
            build_cli(),
            [
                "forage",
                "--repo",
                str(tiny_repo),
                "--tasks",
                "1",
                "--sandbox",
                "auto",
                "--reward",
                "none",
                "--out",
                str(tmp_path / "run"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert f"building the base image {missing}" in result.output  # the progress bar
        assert images.has_image(docker.client, missing)
        assert images.has_image(docker.client, repo_image)
        summary = json.loads(result.output[result.output.index("{") :])
        assert summary["sandbox"] == "docker" and summary["kept"] == 1
        assert summary["resolved"] == 1
    finally:
        for tag in (repo_image, missing):  # only what this test built
            if images.has_image(docker.client, tag):
                docker.client.images.remove(tag, force=True)
