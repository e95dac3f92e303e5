"""The persistent bash session and the local sandbox, with real bash processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cwm.data.sandbox.local import LocalBackend, LocalSandbox


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("X = 1\n")
    return root


@pytest.fixture
def box(repo: Path):
    sandbox = LocalSandbox(str(repo))
    sandbox.session_options = {"timeout": 5.0, "max_output": 2000}
    yield sandbox
    sandbox.close()


def test_sandbox_is_a_private_copy(box: LocalSandbox, repo: Path) -> None:
    box.write_file("pkg/mod.py", b"X = 2\n")
    assert (repo / "pkg" / "mod.py").read_text() == "X = 1\n"
    assert box.read_file(f"{box.workdir}/pkg/mod.py") == b"X = 2\n"
    root = box.root
    box.close()
    assert not root.exists()


def test_state_persists_and_exit_codes_are_reported(box: LocalSandbox) -> None:
    s = box.session
    assert s.run("cd pkg && export GREETING=hi").ok
    out = s.run("pwd; echo $GREETING")
    assert out.output.splitlines() == [f"{box.workdir}/pkg", "hi"]
    failed = s.run("ls does-not-exist")
    assert failed.exit_code == 2 and "does-not-exist" in failed.output
    assert s.run("(exit 7)").exit_code == 7
    multi = s.run("for i in 1 2 3; do\n  echo line $i\ndone\ncat <<EOF\nheredoc\nEOF")
    assert multi.output == "line 1\nline 2\nline 3\nheredoc\n"


def test_session_survives_bad_commands(box: LocalSandbox) -> None:
    s = box.session
    s.run("cd pkg")
    syntax = s.run('echo "unterminated')
    assert syntax.exit_code not in (0, None) and not syntax.restarted
    assert s.run("cat").output == ""  # stdin is /dev/null: no hang
    died = s.run("exit 3")
    assert died.exit_code is None and died.restarted
    assert s.run("pwd").output.strip() == box.workdir  # a fresh shell, back at the root
    assert s.restarts == 1


def test_timeout_interrupts_and_restarts(box: LocalSandbox) -> None:
    s = box.session
    s.run("cd pkg")
    result = s.run("echo started; sleep 30 & wait", timeout=1.0)
    assert result.timed_out and result.restarted and result.exit_code is None
    assert "started" in result.output and "timed out" in result.output
    assert s.run("echo alive").output == "alive\n"
    assert s.run("pwd").output.strip() == box.workdir


def test_output_is_capped_with_head_and_tail(box: LocalSandbox) -> None:
    result = box.session.run("seq 1 20000")
    assert result.ok and result.truncated
    assert result.output.startswith("1\n2\n3\n")
    assert result.output.rstrip().endswith("19999\n20000")
    assert "bytes of output omitted" in result.output
    assert len(result.output) < 2000 + 4096 + 100


def test_sentinel_cannot_be_spoofed(box: LocalSandbox) -> None:
    result = box.session.run("printf '\\n__CWM_0000000000000000_0__\\n'; echo after; false")
    assert result.exit_code == 1 and "after" in result.output


def test_exec_runs_fresh_processes_with_timeouts(box: LocalSandbox) -> None:
    assert box.run("echo $PWD").output.strip() == box.workdir
    slow = box.run("sleep 10", timeout=0.5)
    assert slow.timed_out and slow.exit_code is None


def test_local_image_with_a_virtualenv(tmp_path: Path, repo: Path) -> None:
    """A local image built from (empty) wheels gets its own venv on PATH and the repo on PYTHONPATH."""
    from cwm.data.sandbox.repo import PreparedRepo

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "requirements.txt").write_text("")
    prepared = PreparedRepo(
        name="proj", version="local", source=repo, wheels=wheels, import_root=".", key="k1"
    )
    backend = LocalBackend(cache=tmp_path / "cache")
    image = backend.build_repo_image(prepared)
    assert backend.build_repo_image(prepared) == image  # cached
    with backend.start(image) as box:
        out = box.session.run("which python; python -c 'import pkg.mod as m; print(m.__file__)'")
        lines = out.output.splitlines()
        assert lines[0].startswith(image) and lines[1].startswith(box.workdir)
