"""The ``docker`` sandbox: one container per sandbox, through the Docker SDK.

Containers run ``sleep infinity`` under docker's init with ``network_mode="none"``,
memory, CPU and pid limits, and owner labels (see `cwm.data.sandbox.reaper`).
They run as the image's unprivileged user (uid 1000), with every capability
dropped (the tools need none: they act on files that user owns and on its own
processes), ``no-new-privileges`` and a read-only root filesystem. Only the
repository and /tmp are writable: anonymous volumes (filled from the image, removed
with the container), not tmpfs, because docker's archive API, which puts files in,
cannot write into a tmpfs.
The persistent session is a ``setsid bash`` attached through an exec socket;
killing it kills its whole process group inside the container.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import socket
import struct
import tarfile
import time
from typing import Any

from cwm.data.sandbox import images
from cwm.data.sandbox.base import Channel, ExecResult, Sandbox, SandboxBackend
from cwm.data.sandbox.reaper import TRACKER, owner_labels, reap
from cwm.data.sandbox.repo import PreparedRepo


class DockerChannel(Channel):
    """``setsid -w bash`` in a container; stdout and stderr demultiplexed into one stream.

    ``-w``: an exec's first process leads its process group, so setsid forks; without
    waiting for bash it exits at once, and the engine closes the exec's stream about two
    seconds later, in the middle of any command that runs longer."""

    def __init__(self, sandbox: DockerSandbox):
        api = sandbox.client.api
        self._api, self._cid = api, sandbox.container.id
        exec_id = api.exec_create(
            self._cid,
            ["setsid", "-w", "bash", "--noprofile", "--norc"],
            stdin=True,
            stdout=True,
            stderr=True,
            tty=False,
            workdir=sandbox.workdir,
        )["Id"]
        self._sock: socket.socket = api.exec_start(exec_id, socket=True)._sock
        self._pending = b""  # raw bytes not yet split into frames
        self.pid = 0
        self.send(b"echo $$\n")  # setsid made bash a process-group leader: remember its id
        line = b""
        deadline = time.monotonic() + 30
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            line += self.recv(1.0) or b""
        self.pid = int(line.strip() or 0)

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def recv(self, timeout: float) -> bytes | None:
        out = self._frames()
        if out:
            return out
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return None
        chunk = self._sock.recv(65536)
        if not chunk:
            return b""
        self._pending += chunk
        return self._frames() or None

    def _frames(self) -> bytes:
        """Payloads of the complete frames received (8-byte header: stream, 0, 0, 0, size)."""
        out = bytearray()
        while len(self._pending) >= 8:
            (size,) = struct.unpack(">I", self._pending[4:8])
            if len(self._pending) < 8 + size:
                break
            out += self._pending[8 : 8 + size]
            self._pending = self._pending[8 + size :]
        return bytes(out)

    def kill(self) -> None:
        if self.pid > 1:
            try:
                exec_id = self._api.exec_create(self._cid, ["kill", "-KILL", "--", f"-{self.pid}"])
                self._api.exec_start(exec_id["Id"])
            except Exception:  # the container is already gone
                pass
        with contextlib.suppress(OSError):
            self._sock.close()


class DockerSandbox(Sandbox):
    def __init__(self, client: Any, image: str, *, memory: str, cpus: float, pids: int):
        super().__init__()
        self.client, self.workdir, self.scratch = client, images.WORKDIR, "/tmp"
        from docker.types import Mount

        writable = [Mount(target, None, type="volume") for target in (self.workdir, self.scratch)]
        self.container = client.containers.run(
            image,
            ["sleep", "infinity"],
            detach=True,
            init=True,
            network_mode="none",
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(cpus * 1e9),
            pids_limit=pids,
            labels=owner_labels(),
            working_dir=self.workdir,
            user=images.USER,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            mounts=writable,
        )
        TRACKER.add(self.container)

    def exec(self, argv: list[str], *, timeout: float | None = None) -> ExecResult:
        if timeout is not None:  # coreutils' timeout kills the command inside the container
            argv = ["timeout", "-s", "KILL", f"{timeout:g}", *argv]
        api = self.client.api
        exec_id = api.exec_create(self.container.id, argv, workdir=self.workdir)["Id"]
        out = api.exec_start(exec_id)
        code = api.exec_inspect(exec_id)["ExitCode"]
        text = out.decode(errors="replace")
        if timeout is not None and code == 137:
            return ExecResult(exit_code=None, output=text, timed_out=True)
        return ExecResult(exit_code=code, output=text)

    def _abs(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.workdir, path)

    def _get(self, path: str) -> tuple[bytes, int]:
        import docker.errors

        try:
            stream, stat = self.container.get_archive(self._abs(path))
        except docker.errors.NotFound:
            raise FileNotFoundError(path) from None
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.getmembers()[0]
            if not member.isfile():
                raise IsADirectoryError(path)
            f = tar.extractfile(member)
            assert f is not None
            return f.read(), stat["mode"] & 0o7777

    def read_file(self, path: str) -> bytes:
        return self._get(path)[0]

    def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        path = self._abs(path)
        if mode is None:
            try:
                mode = self._get(path)[1]
            except (FileNotFoundError, IsADirectoryError):
                mode = 0o644
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(os.path.basename(path))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            info.uid = info.gid = images.USER_ID
            tar.addfile(info, io.BytesIO(data))
        # the tar's owner is kept: the file belongs to the sandbox user, who may change it later
        if not self.container.put_archive(os.path.dirname(path) or "/", archive.getvalue()):
            raise FileNotFoundError(os.path.dirname(path))

    def open_channel(self) -> Channel:
        return DockerChannel(self)

    def close(self) -> None:
        super().close()
        with contextlib.suppress(Exception):
            self.container.remove(force=True, v=True)  # v: its anonymous volumes too
        TRACKER.discard(self.container.id)


class DockerBackend(SandboxBackend):
    name = "docker"

    def __init__(self, *, memory: str = "2g", cpus: float = 1.0, pids: int = 512):
        from cwm.data.sandbox.engine import client

        self.client = client()
        self.memory, self.cpus, self.pids = memory, cpus, pids
        reap(self.client)  # containers of owners that died without cleaning up

    def build_repo_image(self, repo: PreparedRepo) -> str:
        return images.build_repo_image(self.client, repo)

    def start(self, image: str) -> DockerSandbox:
        return DockerSandbox(self.client, image, memory=self.memory, cpus=self.cpus, pids=self.pids)
