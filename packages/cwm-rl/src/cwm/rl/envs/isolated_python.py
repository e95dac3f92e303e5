"""Running an untrusted Python program once, so that whatever it does becomes a result.

The program runs in a fresh interpreter (``python -I``) in a private temporary
directory (also its HOME and TMPDIR) with the limits the tracer's workers use:
address space, CPU time and file size (rlimits), a wall-clock timeout that
kills its whole process group, no network (its own network namespace, through
`cwm.core.isolation`, when the kernel allows it; ``ProgramRun.network_isolated``
says whether it did). Output goes to files capped by the file-size limit, so a
flood costs disk up to the cap and no memory.

A hidden test and the secret that proves it ran to its end reach the launcher
through a pipe, never a file: the answer's directory holds only its own code,
and the launcher writes the secret to a report file outside that directory
after the test returns. An answer that exits early (``os._exit(0)``) or prints
a guess never passes. Like the tracer's isolation this guards against accidents
and easy reward hacks (a loop, a crash, a flood, reading the test), not against
code written to escape (the test and the secret are in the same process, for
whoever walks its frames): use the ``docker`` sandbox for that.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Literal

import msgspec

Status = Literal["ok", "error", "timeout", "output_limit", "memory"]

# takes the job from stdin, leaves the network, sets the limits, runs the answer as
# __main__ and then the test in its namespace; the secret stays a local of main()
_LAUNCHER = """\
import json, os, resource, sys, types
from cwm.core.isolation import enter_network_namespace

def main():
    chunks = []
    while chunk := os.read(0, 1 << 16):
        chunks.append(chunk)
    job = json.loads(b"".join(chunks))
    del chunks
    answer = compile(job["program"], "program.py", "exec")
    test = compile(job["test"], "test.py", "exec") if job["test"] else None
    token = job["token"]
    del job
    mem, cpu, fsize, report = (int(v) for v in sys.argv[1:5])
    os.write(report, b"network %d\\n" % enter_network_namespace())
    if mem:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    stdin = os.open("stdin.txt", os.O_RDONLY)
    os.unlink("stdin.txt")
    os.dup2(stdin, 0)
    os.close(stdin)
    module = types.ModuleType("__main__")
    module.__file__ = "program.py"
    sys.modules["__main__"] = module
    sys.argv = ["program.py"]
    exec(answer, module.__dict__)
    if test is not None:
        exec(test, module.__dict__)
        sys.stdout.flush()
        os.write(report, ("passed %s\\n" % token).encode())

main()
"""


class ProgramRun(msgspec.Struct, frozen=True, kw_only=True):
    status: Status
    exit_code: int | None
    stdout: str
    stderr: str  # the tail, for the error a model made
    tested: bool = False  # the hidden test ran to its end (only with a test)
    network_isolated: bool = False  # the program ran in a network namespace of its own

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_python(
    program: str,
    *,
    test: str = "",
    stdin: str = "",
    timeout: float = 10.0,
    memory_mb: int = 1024,
    max_output: int = 1 << 20,
) -> ProgramRun:
    """Run ``program`` with ``stdin``, then ``test`` (Python run in the program's namespace);
    never raises for anything the program does."""
    token = secrets.token_hex(16)
    job = json.dumps({"program": program, "test": test, "token": token}).encode()
    with tempfile.TemporaryDirectory(prefix="cwm-run-") as tmp:
        root, work = Path(tmp), Path(tmp) / "work"
        work.mkdir()
        (work / "program.py").write_text(program)  # its own code, for its tracebacks
        (work / "stdin.txt").write_text(stdin)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work),
            "TMPDIR": str(work),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
        }
        limits = [str(memory_mb << 20), str(max(1, int(timeout) + 1)), str(max_output)]
        with (
            open(root / "stdout", "wb") as fout,
            open(root / "stderr", "wb") as ferr,
            open(root / "report", "wb") as report,
        ):
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _LAUNCHER, *limits, str(report.fileno())],
                cwd=work,
                env=env,
                stdin=subprocess.PIPE,
                stdout=fout,
                stderr=ferr,
                pass_fds=(report.fileno(),),
                start_new_session=True,
            )
            code = _finish(proc, job, timeout)
        out = (root / "stdout").read_bytes()
        err = (root / "stderr").read_bytes()[-4000:].decode(errors="replace")
        lines = (root / "report").read_text(errors="replace").splitlines()
    return ProgramRun(
        status=_status(code, len(out), err, max_output),
        exit_code=code,
        stdout=out.decode(errors="replace"),
        stderr=err,
        tested=f"passed {token}" in lines,
        network_isolated="network 1" in lines,
    )


def _finish(proc: subprocess.Popen[bytes], job: bytes, timeout: float) -> int | None:
    """Send the job and wait; None when the wall-clock limit killed it."""
    try:
        proc.communicate(job, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None
    except BrokenPipeError:  # it died before reading the job: its exit code says how
        proc.wait()
    return proc.returncode


def _status(code: int | None, n_out: int, err: str, max_output: int) -> Status:
    if code is None or code in (-signal.SIGXCPU, -signal.SIGKILL):
        return "timeout"
    if n_out >= max_output or "File too large" in err or code == -signal.SIGXFSZ:
        return "output_limit"
    if "MemoryError" in err:
        return "memory"
    return "ok" if code == 0 else "error"
