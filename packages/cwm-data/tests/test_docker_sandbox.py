"""The docker sandbox against the real engine: isolation, limits, the session, and the reaper."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from cwm.data.sandbox.reaper import LABEL, reap


def test_container_is_isolated_limited_and_labelled(docker, inflection_image: str) -> None:
    with docker.start(inflection_image) as box:
        host = box.container.attrs["HostConfig"]
        assert host["NetworkMode"] == "none"
        assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["PidsLimit"] > 0
        labels = box.container.labels
        assert labels[LABEL] == "1" and labels["cwm.owner.pid"] == str(os.getpid())
        probe = "import socket; socket.create_connection(('1.1.1.1', 80), timeout=3)"
        net = box.run(f'python -c "{probe}"')
        assert net.exit_code != 0 and "unreachable" in net.output
        assert (
            box.run("ip -o link 2>/dev/null || cat /proc/net/dev").output.count(":") <= 3
        )  # lo only
        cid = box.container.id
    assert not docker.client.containers.list(all=True, filters={"id": cid})


def test_repository_image_runs_its_tests_offline(docker, inflection_image: str) -> None:
    with docker.start(inflection_image) as box:
        result = box.run("python -m pytest -q -p no:cacheprovider")
        assert result.ok and "455 passed" in result.output
        assert box.run("git status --porcelain").output == ""


def test_persistent_session_in_a_container(docker, inflection_image: str) -> None:
    with docker.start(inflection_image) as box:
        box.session_options = {"timeout": 5.0}
        s = box.session
        assert s.run("cd inflection && X=41").ok
        assert s.run("echo $((X+1)); pwd").output == "42\n/repo/inflection\n"
        assert s.run("sleep 3; echo slept").output == "slept\n"  # longer than a moment
        late = s.run("sleep 60", timeout=1.0)
        assert late.timed_out and late.restarted
        assert s.run("pwd").output == "/repo\n"
        assert "sleep 60" not in box.run("ps -eo args").output  # the killed command is gone
        assert s.run("exit 1").restarted and s.run("echo ok").output == "ok\n"
        box.write_file("/repo/new.txt", b"data\n")
        assert box.read_file("new.txt") == b"data\n"


_OWNER = """
import sys, time
from cwm.data.sandbox.containers import DockerBackend
box = DockerBackend().start(sys.argv[1])
print(box.container.id, flush=True)
time.sleep(600)
"""


def _owner(image: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_OWNER), image], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_reaper_removes_containers_of_a_killed_owner(docker, inflection_image: str) -> None:
    proc, cid = _owner(inflection_image)
    exists = lambda: bool(docker.client.containers.list(all=True, filters={"id": cid}))  # noqa: E731
    assert cid and exists()
    assert cid not in reap(docker.client)  # the owner is alive: hands off
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert exists()  # SIGKILL leaves no chance to clean up ...
    assert cid in reap(docker.client)  # ... so the reaper does
    assert not exists()


def test_owner_removes_its_containers_on_sigterm(docker, inflection_image: str) -> None:
    proc, cid = _owner(inflection_image)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 10
    while (
        docker.client.containers.list(all=True, filters={"id": cid}) and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert not docker.client.containers.list(all=True, filters={"id": cid})


def test_container_runs_unprivileged_with_a_read_only_root(docker, inflection_image: str) -> None:
    with docker.start(inflection_image) as box:
        host = box.container.attrs["HostConfig"]
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
        assert host["SecurityOpt"] == ["no-new-privileges"] and host["ReadonlyRootfs"]
        assert box.run("id -u; id -un").output.split() == ["1000", "cwm"]
        status = box.run("grep -E '^(CapEff|NoNewPrivs)' /proc/self/status").output
        assert "CapEff:\t0000000000000000" in status and "NoNewPrivs:\t1" in status
        for path in ("/etc/passwd", "/opt/venv/x", "/usr/bin/x"):
            assert box.run(f"touch {path}").exit_code != 0, path
        # the repository and /tmp stay writable, and files put in belong to the user
        box.write_file("notes.txt", b"one\n")
        box.write_file("/tmp/scratch.txt", b"x")
        assert box.run("echo two >> notes.txt && cat notes.txt").output == "one\ntwo\n"
        assert box.run("stat -c %u notes.txt /tmp/scratch.txt").output.split() == ["1000"] * 2
        assert box.run("git status --porcelain").output.strip() == "?? notes.txt"
        volumes = [m["Name"] for m in box.container.attrs["Mounts"] if m["Type"] == "volume"]
        assert len(volumes) == 2
    # the writable volumes go with the container
    assert not [v for v in volumes if docker.client.volumes.list(filters={"name": v})]
