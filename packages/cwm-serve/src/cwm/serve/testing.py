"""A real ``cwm serve`` for tests, here and in the packages that use the server (cwm-rl).

It lives in the package, not in a tests folder, so that each package's tests can use it
when that package is installed alone.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from cwm.core.testing import free_port


def cwm_command() -> list[str]:
    """``cwm`` as this interpreter runs it."""
    return [sys.executable, "-c", "from cwm.core.cli import main; main()"]


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def running_server(
    *args: str, timeout: float = 120.0, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """``cwm serve ARGS`` on a free port of 127.0.0.1; yields the base URL (…/v1). ``env``:
    variables added to the server's environment only (``CWM_API_KEY``, ...)."""
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"cwm-serve-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*cwm_command(), "serve", *args, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(base):
            if proc.poll() is not None:
                raise AssertionError(f"cwm serve exited {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"cwm serve did not come up:\n{log.read_text()}")
            time.sleep(0.3)
        yield f"{base}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
