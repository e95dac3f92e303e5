"""Finding, and on request starting, the Docker engine.

`client()` connects to a running engine. `start_engine()` is what ``cwm sandbox
setup`` and the test suite call on a machine without one: as root, it installs
Debian's ``docker.io`` when ``dockerd`` is missing and starts ``dockerd``
without a bridge network (``--bridge=none --iptables=false``), so no
container can ever reach a network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from cwm.core.errors import CwmError

DOCKERD_ARGS = ["--bridge=none", "--iptables=false", "--ip-forward=false"]
LOG = Path("/var/log/cwm-dockerd.log")


def client(timeout: float = 120.0) -> Any:
    """A docker SDK client for the running engine; `CwmError` if none answers."""
    import docker

    try:
        c = docker.from_env(timeout=int(timeout))
        c.ping()
        return c
    except Exception as exc:
        raise CwmError(
            f"no Docker engine answers ({type(exc).__name__}); run `cwm sandbox setup` "
            "(as root) or use --sandbox local"
        ) from None


def engine_running() -> bool:
    try:
        client(timeout=5)
        return True
    except CwmError:
        return False


def apt_install(*packages: str) -> None:
    """``apt-get install`` Debian packages (as root), refreshing the package lists first."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise CwmError(f"{' '.join(packages)} missing; install it with apt-get (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise CwmError(f"{' '.join(argv)} failed: {result.stderr.strip()[-300:]}")


def start_engine(*, install: bool = True, wait: float = 60.0) -> str:
    """Start ``dockerd`` (installing docker.io first if allowed); returns what was done."""
    if engine_running():
        return "the Docker engine is already running"
    if os.geteuid() != 0:
        raise CwmError("starting the Docker engine needs root; run `sudo cwm sandbox setup`")
    did = []
    if shutil.which("dockerd") is None:
        if not install:
            raise CwmError("dockerd is not installed; install Debian's docker.io package")
        apt_install("docker.io")
        did.append("installed docker.io")
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "ab") as log:
        subprocess.Popen(
            ["dockerd", *DOCKERD_ARGS],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + wait
    while not engine_running():
        if time.monotonic() > deadline:
            raise CwmError(f"dockerd did not come up within {wait:g} s; see {LOG}")
        time.sleep(0.5)
    did.append("started dockerd (no bridge network)")
    return ", ".join(did)
