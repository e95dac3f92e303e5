"""The ``local`` sandbox: subprocesses in a temporary copy of the repository.

No isolation beyond a private directory: use it where no Docker engine runs
(it is the embedded default then) and for code you trust. A local *image* is a
directory holding ``repo/`` (the repository, a git checkout) and ``venv/`` (a
virtualenv with its dependencies, installed offline from prepared wheels); a
plain directory without ``image.json`` is used as the repository itself, with
the current Python environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from cwm.core.errors import CwmError
from cwm.data.sandbox.base import Channel, ExecResult, Sandbox, SandboxBackend
from cwm.data.sandbox.repo import PreparedRepo, cache_dir, run_checked


class LocalChannel(Channel):
    def __init__(self, cwd: str, env: dict[str, str]):
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group
        )

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv(self, timeout: float) -> bytes | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return None
        return os.read(fd, 65536)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class LocalSandbox(Sandbox):
    def __init__(self, image: str):
        super().__init__()
        image_dir = Path(image)
        meta_path = image_dir / "image.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        source = image_dir / "repo" if meta else image_dir
        if not source.is_dir():
            raise CwmError(f"local image {image} is not a directory; build it with `cwm forage`")
        self.root = Path(tempfile.mkdtemp(prefix="cwm-sandbox-"))
        shutil.copytree(source, self.root / "repo", symlinks=True)
        for sub in ("tmp", "home"):
            (self.root / sub).mkdir()
        self.workdir, self.scratch = str(self.root / "repo"), str(self.root / "tmp")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        bin_dir = str(image_dir / "venv" / "bin") if meta else str(Path(sys.executable).parent)
        env.update(
            PATH=f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
            HOME=str(self.root / "home"),
            TMPDIR=self.scratch,
            PYTHONDONTWRITEBYTECODE="1",
        )
        if meta.get("import_root") is not None:
            env["PYTHONPATH"] = str(Path(self.workdir) / meta["import_root"])
        self.env = env

    def exec(self, argv: list[str], *, timeout: float | None = None) -> ExecResult:
        proc = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            return ExecResult(exit_code=None, output=out.decode(errors="replace"), timed_out=True)
        return ExecResult(exit_code=proc.returncode, output=out.decode(errors="replace"))

    def _host_path(self, path: str) -> Path:
        # paths inside the sandbox are host paths under its root
        return Path(path if os.path.isabs(path) else os.path.join(self.workdir, path))

    def read_file(self, path: str) -> bytes:
        return self._host_path(path).read_bytes()

    def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        target = self._host_path(path)
        target.write_bytes(data)
        if mode is not None:
            target.chmod(mode)

    def open_channel(self) -> Channel:
        return LocalChannel(self.workdir, self.env)

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.root, ignore_errors=True)


class LocalBackend(SandboxBackend):
    name = "local"

    def __init__(self, cache: str | Path | None = None):
        self.cache = Path(cache) if cache else cache_dir()

    def build_repo_image(self, repo: PreparedRepo) -> str:
        """A directory with a copy of the repository and a virtualenv of its wheels."""
        image = self.cache / "local-images" / f"{repo.name}-{repo.key}"
        if (image / "image.json").exists():
            return str(image)
        tmp = image.with_name(image.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copytree(repo.source, tmp / "repo", symlinks=True)
        run_checked([sys.executable, "-m", "venv", str(tmp / "venv")], "creating the virtualenv")
        pip = [str(tmp / "venv" / "bin" / "python"), "-m", "pip"]
        run_checked(
            [
                *pip,
                "install",
                "--quiet",
                "--no-index",
                "--disable-pip-version-check",
                "--find-links",
                str(repo.wheels),
                "-r",
                str(repo.wheels / "requirements.txt"),
            ],
            f"installing the wheels of {repo.name}",
        )
        meta = {"name": repo.name, "import_root": repo.import_root, "key": repo.key}
        (tmp / "image.json").write_text(json.dumps(meta))
        shutil.rmtree(image, ignore_errors=True)
        tmp.rename(image)
        return str(image)

    def start(self, image: str) -> LocalSandbox:
        return LocalSandbox(image)
