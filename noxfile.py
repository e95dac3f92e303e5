"""Sessions: lint, each package's tests installed alone, the GPU check's dry run, benchmarks.

    uv run nox                                  # lint, every package's tests, gpu-check
                                                # --dry-run (what CI runs)
    uv run nox -s "tests(package='cwm-data')"   # one package
    uv run nox -s versions                      # sibling version ranges and changelogs
    uv run nox -s data_without_agentic          # tracing and data build without docker or pip
    uv run nox -s benchmarks                    # writes benchmarks/results/*.json
    uv run nox -s benchmarks_quick              # each benchmark runs (tiny sizes, temp dir)
    uv run nox -s oldest_torch                  # torch tests under the oldest torch we declare
    uv run nox -s gpu_check_dry_run             # scripts/gpu-check's steps on CPU

Each test session installs one package (built as a wheel, not editable) with
only its declared dependencies, exactly as pinned in uv.lock, so a missing
dependency or package file fails here rather than for a user.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = [
    "lint",
    "versions",
    "tests",
    "core_without_torch",
    "data_without_agentic",
    "benchmarks_quick",
    "gpu_check_dry_run",
    "oldest_torch",
]
nox.options.reuse_existing_virtualenvs = True

PACKAGES = ["cwm-core", "cwm-data", "cwm-train", "cwm-serve", "cwm-rl"]
COLLATZ = "def collatz(n):\n    steps = 0\n    while n != 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n        steps += 1\n    return steps\n"

#: the floor of cwm-core's torch extra (``torch>=2.11``: what the GPU machines have), with the
#: triton it was built against; their CUDA libraries come from the lock's newer torch (same
#: CUDA 13 sonames) plus curand, which it no longer needs: about 750 MiB to download, not the
#: 3 GB of torch 2.11's own CUDA wheels
OLDEST_TORCH = ["torch==2.11.0", "triton==3.6.0", "nvidia-curand==10.4.5.25"]
#: the torch-using tests that cover what reaches a GPU: model and attention backends, the
#: trainer with every hardware backend and real gloo process groups, the engine and its
#: CUDA-graph logic (the full torch suites take about 10 minutes on 2 cores)
OLDEST_TORCH_TESTS = [
    "packages/cwm-core/tests/test_model.py",
    "packages/cwm-core/tests/test_backends.py",
    "packages/cwm-core/tests/test_masks.py",
    "packages/cwm-core/tests/test_decode.py",
    "packages/cwm-core/tests/test_native_checkpoint.py",
    "packages/cwm-train/tests/test_hardware_backends.py",
    "packages/cwm-train/tests/test_distributed.py",
    "packages/cwm-serve/tests/test_engine_greedy.py",
    "packages/cwm-serve/tests/test_cuda_graph_buffers.py",
    "packages/cwm-serve/tests/test_engine_config.py",
]


def sync(session: nox.Session, *args: str) -> None:
    """Install from uv.lock into this session's virtualenv.

    Our packages are always rebuilt: uv caches a built wheel by its pyproject, so a
    reused virtualenv would otherwise keep testing stale sources.
    """
    rebuild = [f"--reinstall-package={p}" for p in PACKAGES]
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-editable",
        *rebuild,
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repository."""
    sync(session, "--only-group", "dev")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=False)
def versions(session: nox.Session) -> None:
    """Every sibling dependency has a version range the workspace satisfies; every package
    has a CHANGELOG.md entry for its version."""
    session.run("python", ".ci/check_versions.py")


@nox.session
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """One package's tests, with that package and its declared dependencies only."""
    sync(session, "--package", package, "--all-extras", "--group", "test")
    session.run("pytest", f"packages/{package}/tests", *session.posargs)


@nox.session
def core_without_torch(session: nox.Session) -> None:
    """cwm-core alone, without the torch extra: tokenizer, schemas and plugins still work."""
    sync(session, "--package", "cwm-core", "--group", "test")
    session.run(
        "python",
        "-c",
        "import importlib.util as u; assert u.find_spec('torch') is None, 'torch is installed'",
    )
    session.run("cwm", "plugins")
    session.run("pytest", "packages/cwm-core/tests", *session.posargs)


@nox.session
def data_without_agentic(session: nox.Session) -> None:
    """cwm-data without its agentic extra: tracing and `cwm data build` need no docker or pip."""
    sync(session, "--package", "cwm-data", "--no-default-groups")
    absent = "import importlib.util as u; assert not [m for m in ('docker', 'packaging', 'pip') if u.find_spec(m)]"
    session.run("python", "-c", absent)
    session.run("cwm", "plugins")
    tmp = Path(session.create_tmp())
    (tmp / "collatz.py").write_text(COLLATZ)
    session.run("cwm", "trace", "run", str(tmp / "collatz.py"), "--call", "collatz(6)")
    tasks = [
        {"id": f"collatz({n})", "source": COLLATZ, "call": f"collatz({n})", "module": "demo"}
        for n in (3, 6, 7, 9, 27)
    ]
    (tmp / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    build = ["cwm", "data", "build", "--corpus", f"jsonl:{tmp / 'tasks.jsonl'}", "--force"]
    session.run(
        *build, "--out", str(tmp / "ds"), "--workers", "1", "--quiet", "--set", "plot=false"
    )
    said = session.run("cwm", "sandbox", "ls", success_codes=[1], silent=True)
    if "pip install 'cwm-data[agentic]'" not in str(said):
        session.error(f"cwm sandbox without the extra did not name it: {said}")


def bench_scripts(session: nox.Session) -> list[str]:
    return session.posargs or sorted(str(p) for p in Path("benchmarks").glob("bench_*.py"))


@nox.session
def oldest_torch(session: nox.Session) -> None:
    """The torch-using tests (OLDEST_TORCH_TESTS, or those named in posargs) under the oldest
    torch the packages declare, on CPU (it downloads two large wheels once, then uv's cache
    serves them)."""
    sync(session, "--all-packages", "--all-extras", "--all-groups")
    python = f"{session.virtualenv.location}/bin/python"
    session.run_install("uv", "pip", "install", "--python", python, "--no-deps", *OLDEST_TORCH)
    wanted = OLDEST_TORCH[0].split("==")[1]
    check = f"import torch; v = torch.__version__; assert v.startswith('{wanted}'), v; print(v)"
    session.run("python", "-c", check)
    session.run("pytest", "-q", *(session.posargs or OLDEST_TORCH_TESTS))


@nox.session
def gpu_check_dry_run(session: nox.Session) -> None:
    """scripts/gpu-check --dry-run: every step of the GPU check on CPU (small shapes, FP8
    emulated), then the tests of the check's driver and of the GPU benchmarks' results."""
    sync(session, "--all-packages", "--all-extras", "--all-groups")
    out = Path(session.create_tmp()) / "gpu-check"
    session.run("python", "scripts/gpu-check", "--dry-run", str(out))
    session.run("pytest", "-q", "scripts/tests", *session.posargs)


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Every benchmarks/*.py script (or those named in posargs); results in benchmarks/results/."""
    sync(session, "--all-packages", "--all-extras", "--group", "benchmarks")
    for script in bench_scripts(session):
        session.run("python", script)


@nox.session
def benchmarks_quick(session: nox.Session) -> None:
    """Each benchmark starts and writes its JSON: tiny sizes, into a temporary directory.

    Only what needs Docker or a GPU is skipped where there is none, and says so.
    """
    sync(session, "--all-packages", "--all-extras", "--group", "benchmarks")
    out = Path(session.create_tmp()) / "bench-quick"
    shutil.rmtree(out, ignore_errors=True)  # each script must write its own JSON afresh
    for script in bench_scripts(session):
        before = set(out.glob("*.json"))
        said = str(session.run("python", script, "--quick", "--out", str(out), silent=True))
        if ": skipped, " in said:
            session.log(said.strip().splitlines()[-1])
        elif not set(out.glob("*.json")) - before:
            session.error(f"{script} --quick wrote no JSON into {out}")
