"""Sessions: lint, each package's tests installed alone, and the benchmarks.

    uv run nox                                  # lint + every package's tests (what CI runs)
    uv run nox -s "tests(package='cwm-data')"   # one package
    uv run nox -s versions                      # sibling version ranges and changelogs
    uv run nox -s data_without_agentic          # tracing and data build without docker or pip
    uv run nox -s benchmarks                    # writes benchmarks/results/*.json
    uv run nox -s benchmarks_quick              # each benchmark runs (tiny sizes, temp dir)

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
]
nox.options.reuse_existing_virtualenvs = True

PACKAGES = ["cwm-core", "cwm-data", "cwm-train", "cwm-serve", "cwm-rl"]
COLLATZ = "def collatz(n):\n    steps = 0\n    while n != 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n        steps += 1\n    return steps\n"


def sync(session: nox.Session, *args: str) -> None:
    """Install from uv.lock into this session's virtualenv.

    Our packages are always rebuilt: uv caches a built wheel by its pyproject, so a
    reused virtualenv would otherwise keep testing stale sources.
    """
    rebuild = [f"--reinstall-package={p}" for p in PACKAGES]
    session.run_install(
        "uv", "sync", "--locked", "--no-editable", *rebuild, *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )  # fmt: skip


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
