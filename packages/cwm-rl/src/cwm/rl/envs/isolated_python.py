"""Running an untrusted Python program once, so that whatever it does becomes a result.

The program runs in a fresh interpreter (``python -I``) in a private temporary
directory (also its HOME and TMPDIR) with the limits the tracer's workers use:
address space, CPU time and file size (rlimits), a wall-clock timeout that
kills its whole process group, no network (its own network namespace when the
kernel allows it). Output goes to files capped by the file-size limit, so a
flood costs disk up to the cap and no memory. Like the tracer's isolation this
guards against accidents (a loop, a crash, a flood), not against code written
to escape: use the ``docker`` sandbox for that.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Literal

import msgspec

Status = Literal["ok", "error", "timeout", "output_limit", "memory"]

# sets the limits, leaves the network, then runs the program as __main__
_LAUNCHER = """\
import ctypes, os, resource, runpy, sys
mem, cpu, fsize = (int(v) for v in sys.argv[1:4])
if mem:
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET; unprivileged: with a user namespace
    libc.unshare(0x10000000 | 0x40000000)
sys.argv = ["program.py"]
runpy.run_path("program.py", run_name="__main__")
"""


class ProgramRun(msgspec.Struct, frozen=True, kw_only=True):
    status: Status
    exit_code: int | None
    stdout: str
    stderr: str  # the tail, for the error a model made

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_python(
    program: str,
    *,
    stdin: str = "",
    timeout: float = 10.0,
    memory_mb: int = 1024,
    max_output: int = 1 << 20,
) -> ProgramRun:
    """Run ``program`` with ``stdin``; never raises for anything the program does."""
    with tempfile.TemporaryDirectory(prefix="cwm-run-") as tmp:
        root = Path(tmp)
        (root / "program.py").write_text(program)
        (root / "stdin.txt").write_text(stdin)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "TMPDIR": tmp,
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
        }
        limits = [str(memory_mb << 20), str(max(1, int(timeout) + 1)), str(max_output)]
        with (
            open(root / "stdin.txt", "rb") as fin,
            open(root / "stdout", "wb") as fout,
            open(root / "stderr", "wb") as ferr,
        ):
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _LAUNCHER, *limits],
                cwd=tmp,
                env=env,
                stdin=fin,
                stdout=fout,
                stderr=ferr,
                start_new_session=True,
            )
            try:
                code: int | None = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code = None
        out = (root / "stdout").read_bytes()
        err = (root / "stderr").read_bytes()[-4000:].decode(errors="replace")
    return ProgramRun(
        status=_status(code, len(out), err, max_output),
        exit_code=code,
        stdout=out.decode(errors="replace"),
        stderr=err,
    )


def _status(code: int | None, n_out: int, err: str, max_output: int) -> Status:
    if code is None or code in (-signal.SIGXCPU, -signal.SIGKILL):
        return "timeout"
    if n_out >= max_output or "File too large" in err or code == -signal.SIGXFSZ:
        return "output_limit"
    if "MemoryError" in err:
        return "memory"
    return "ok" if code == 0 else "error"
