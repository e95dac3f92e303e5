"""Code written to escape the tracer's sandbox: run through the real tracer, it fails and leaves nothing.

Each escape gets the path of a directory outside the task's working directory that
holds a file ``victim``. Two such directories: one the sandbox cannot see (as every
path outside the interpreter and its packages), and one on the import path, which it
sees read-only. Under the ``process`` fallback, the audit hooks refuse what they can
see and mark every escape in ``meta.touched``, so `cwm data build` drops the trace.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest
from tracing_helpers import src

from cwm.data.trace import TraceConfig, TracePool, TraceTask
from cwm.data.trace.workers.bwrap import bwrap_binary, bwrap_problem, python_command

FAST = TraceConfig(max_seconds=2.0, cpu_seconds=2.0, memory_mb=256)
needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=str(bwrap_problem()))

ESCAPES = {
    "os.replace over a file": """
        import os
        def f(target):
            with open('payload', 'w') as out:
                out.write('evil')
            os.replace('payload', target + '/victim')
        """,
    "os.rename to a new file": """
        import os
        def f(target):
            with open('payload', 'w') as out:
                out.write('evil')
            os.rename('payload', target + '/renamed')
        """,
    "os.unlink with dir_fd": """
        import os
        def f(target):
            os.unlink('victim', dir_fd=os.open(target, os.O_RDONLY))
        """,
    "os.open with dir_fd": """
        import os
        def f(target):
            fd = os.open('created', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=os.open(target, os.O_RDONLY))
            os.write(fd, b'evil')
        """,
    "sqlite3 at an absolute path": """
        import sqlite3
        def f(target):
            db = sqlite3.connect(target + '/escaped.db')
            db.execute('create table t (x)')
            db.commit()
        """,
    "ctypes open and write": """
        import ctypes, os
        def f(target):
            libc = ctypes.CDLL(None, use_errno=True)
            for name, flags in (('/victim', os.O_WRONLY | os.O_TRUNC), ('/ctypes.txt', os.O_WRONLY | os.O_CREAT)):
                fd = libc.open((target + name).encode(), flags, 0o644)
                libc.write(fd, b'evil', 4)
            return ctypes.get_errno()
        """,
}

FORK_ESCAPE = src("""
    import ctypes, os
    def f(name):
        libc = ctypes.CDLL(None)
        pid = libc.fork()
        if pid == 0:  # a new session, then a grandchild that outlives its parent
            libc.setsid()
            if libc.fork() == 0:
                libc.prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME
                libc.sleep(30)
            libc._exit(0)
        os.waitpid(pid, 0)
        return pid > 0
    """)


def _outside(root: Path, name: str) -> Path:
    target = root / name
    target.mkdir()
    (target / "victim").write_text("original")
    return target


def _left_alone(target: Path) -> bool:
    return (
        sorted(os.listdir(target)) == ["victim"] and (target / "victim").read_text() == "original"
    )


def _run_escapes(config: TraceConfig, target: Path) -> dict[str, object]:
    tasks = [
        TraceTask(id=name, source=src(text), call=f"f({str(target)!r})")
        for name, text in ESCAPES.items()
    ]
    with TracePool(config) as pool:
        return {t.id: t for t in pool.imap(tasks)}


@needs_bwrap
@pytest.mark.parametrize("where", ["hidden", "read-only"])
def test_writes_outside_fail_in_the_sandbox(tmp_path, monkeypatch, where):
    target = _outside(tmp_path, where)
    if where == "read-only":
        monkeypatch.syspath_prepend(str(target))  # the sandbox mounts import paths read-only
    traces = _run_escapes(FAST, target)
    assert _left_alone(target), sorted(os.listdir(target))
    for name, trace in traces.items():
        assert trace.meta["isolation"] == "bwrap", name
        assert trace.outcome in ("returned", "raised"), (name, trace.error)
        assert trace.meta["touched"], name  # never kept as free of side effects


def test_the_fallback_refuses_what_audit_hooks_see_and_marks_the_rest(tmp_path):
    target = _outside(tmp_path, "outside")
    traces = _run_escapes(TraceConfig(max_seconds=2.0, sandbox="process"), target)
    for name, trace in traces.items():
        assert trace.meta["isolation"] == "process", name
        assert trace.meta["touched"], name
    for name in ("os.replace over a file", "os.rename to a new file", "os.unlink with dir_fd"):
        assert "only write in its working directory" in traces[name].result, name
    assert "only write in its working directory" in traces["sqlite3 at an absolute path"].result
    assert (target / "victim").exists() and not (target / "renamed").exists()
    assert not (target / "escaped.db").exists()


@pytest.mark.parametrize("sandbox", [pytest.param("bwrap", marks=needs_bwrap), "process"])
def test_a_double_forked_process_in_a_new_session_dies_with_its_task(sandbox):
    name = f"cwm-esc-{secrets.token_hex(3)}"
    config = TraceConfig(max_seconds=2.0, sandbox=sandbox)
    with TracePool(config) as pool:  # the worker stays up: only the task has ended
        trace = pool.trace(TraceTask(id="fork", source=FORK_ESCAPE, call=f"f({name!r})"))
        assert trace.outcome == "returned" and trace.result == "True", trace.error
        assert "native" in trace.meta["touched"]
        time.sleep(0.5)
        assert _processes_named(name) == []


def _processes_named(name: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm == name:
            found.append(int(pid))
    return found


@needs_bwrap
def test_the_sandbox_sees_no_system_or_user_files(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    home_files = sorted(str(p) for p in Path("/root").glob("*") if p.is_file())[:3]
    if os.access("/root", os.R_OK):
        home_files += [str(p) for p in Path("/root").glob(".*") if p.is_file()][:3]
    paths = ["/etc/passwd", "/etc/shadow", str(secret), *home_files]
    source = src("""
        def f(paths):
            read = []
            for path in paths:
                try:
                    with open(path) as file:
                        read.append((path, file.read(20)))
                except OSError:
                    pass
            return read
        """)
    with TracePool(FAST) as pool:
        trace = pool.trace(TraceTask(id="read", source=source, call=f"f({paths!r})"))
    assert trace.outcome == "returned" and trace.result == "[]", trace.result
    assert trace.meta["isolation"] == "bwrap" and trace.meta["touched"] == ["fs"]


@needs_bwrap
def test_cleanup_after_a_task_leaves_an_import_path_under_tmp_alone(tmp_path):
    # bubblewrap binds an import path under /tmp read-only into the worker's private
    # /tmp, from the same filesystem: not a mount to `os.path.ismount`, so each task's
    # cleanup walked (and tried to delete) the whole tree
    private, project = tmp_path / "private", tmp_path / "project"
    (private / "task").mkdir(parents=True)
    (private / "left-by-a-task").mkdir()
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "mod.py").write_text("x = 1\n")
    check = (
        "from cwm.data.trace.workers import orphans\n"
        "walked = []\n"
        "orphans.shutil.rmtree = lambda path, **kw: walked.append(path)\n"
        "orphans.empty_directory('/tmp', empty='task')\n"
        "print(walked)\n"
    )
    argv = [bwrap_binary(), "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/"]
    argv += ["--bind", str(private), "/tmp", "--ro-bind", str(project), "/tmp/project"]
    argv += ["--dev", "/dev", "--proc", "/proc", *python_command("-c", check)]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['/tmp/left-by-a-task']"
    assert (project / "pkg" / "mod.py").exists()


def test_without_bwrap_auto_warns_once_and_falls_back_and_bwrap_refuses(monkeypatch):
    from cwm.core.errors import CwmError
    from cwm.data.trace.workers import bwrap

    monkeypatch.setattr(bwrap, "bwrap_binary", lambda: "/nonexistent/bwrap")
    bwrap.bwrap_problem.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="without bubblewrap"):
            assert bwrap.resolve_sandbox("auto") == "process"
        with pytest.raises(CwmError, match=r"sandbox=bwrap: .*did not start"):
            bwrap.resolve_sandbox("bwrap")
        with pytest.raises(CwmError, match="unknown sandbox 'docker'"):
            bwrap.resolve_sandbox("docker")
    finally:
        bwrap.bwrap_problem.cache_clear()
