"""Repositories made ready for an image: a git checkout plus the wheels of its dependencies.

A repository comes from a local path or from a source distribution on the
package registry (``toolz`` or ``toolz==1.2.0``). Everything downloaded is
cached under `cache_dir()` and never downloaded again: the sdist, the unpacked
checkout (committed as the base commit) and a directory of wheels with a
``requirements.txt`` that installs offline (``pip install --no-index``).

Wheels are fetched with the host's Python; pure-Python projects install
anywhere, compiled ones need the host's Python version to match the image's
(Debian bookworm: 3.11).
"""

from __future__ import annotations

import email.parser
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import msgspec
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from cwm.core.errors import CwmError

DEFAULT_TEST_DEPS = ("pytest",)
_GIT = [
    "git",
    "-c",
    "user.name=cwm",
    "-c",
    "user.email=cwm@localhost",
    "-c",
    "init.defaultBranch=main",
]


class PreparedRepo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: str
    source: Path  # a git checkout whose HEAD is the base commit
    wheels: Path  # wheels + requirements.txt
    import_root: str  # "." or "src": what goes on PYTHONPATH
    key: str  # changes whenever the source or the requirements change


def cache_dir() -> Path:
    """``$CWM_CACHE`` or ``~/.cache/cwm``."""
    return Path(os.environ.get("CWM_CACHE") or Path.home() / ".cache" / "cwm")


def run_checked(argv: list[str], what: str, cwd: Path | None = None) -> str:
    """Run ``argv``; its stdout, or a CwmError naming ``what`` with the last lines of its output."""
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise CwmError(f"{what} failed: {' / '.join(tail)}")
    return result.stdout


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]


def fetch_sdist(spec: str, cache: Path) -> Path:
    """The sdist for ``name`` or ``name==version``: from the cache, else from the registry."""
    try:
        req = Requirement(spec)
    except InvalidRequirement:
        raise CwmError(
            f"{spec!r} is neither a directory nor a package name like toolz==1.2.0"
        ) from None
    pinned = next((s.version for s in req.specifier if s.operator == "=="), None)
    sdists = cache / "sdists"
    found: list[tuple[Version, Path]] = []
    for path in sdists.glob("*.tar.gz") if sdists.is_dir() else []:
        name, _, version = path.name.removesuffix(".tar.gz").rpartition("-")
        if canonicalize_name(name) != canonicalize_name(req.name):
            continue
        try:
            found.append((Version(version), path))
        except InvalidVersion:
            continue
    if pinned is not None:
        found = [(v, p) for v, p in found if v == Version(pinned)]
    if found:
        return max(found)[1]
    sdists.mkdir(parents=True, exist_ok=True)
    before = set(sdists.iterdir())
    run_checked(
        _pip(
            "download", "--quiet", "--no-deps", "--no-binary", ":all:", "--dest", str(sdists), spec
        ),
        f"downloading the sdist of {spec}",
    )
    new = [p for p in set(sdists.iterdir()) - before if p.name.endswith(".tar.gz")]
    if not new:  # pip found it already there under another spelling
        return fetch_sdist(f"{req.name}=={pinned}" if pinned else req.name, cache)
    return new[0]


def _commit(path: Path, message: str) -> None:
    exclude = path / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text("__pycache__/\n*.pyc\n.pytest_cache/\n*.egg-info/\n")
    run_checked([*_GIT, "add", "-A"], "git add", cwd=path)
    run_checked(
        [*_GIT, "commit", "--quiet", "--allow-empty", "-m", message], "git commit", cwd=path
    )


def _checkout_sdist(sdist: Path, cache: Path) -> Path:
    dest = cache / "repos" / sdist.name.removesuffix(".tar.gz")
    if (dest / ".git").is_dir():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp, filter="data")
    (top,) = list(tmp.iterdir())  # sdists hold one top-level directory
    run_checked([*_GIT, "init", "--quiet"], "git init", cwd=top)
    _commit(top, f"{sdist.name}: unpacked source distribution")
    shutil.rmtree(dest, ignore_errors=True)
    top.rename(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _checkout_path(path: Path, cache: Path) -> Path:
    """A committed snapshot of a local directory (its HEAD if it is a git repository)."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    dest = cache / "repos" / f"{path.resolve().name}-local-{digest}"
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if (path / ".git").exists():
        run_checked(
            ["git", "clone", "--quiet", "--no-hardlinks", str(path), str(dest)], f"cloning {path}"
        )
        _commit(dest, "cwm: base")  # only writes .git/info/exclude; keeps HEAD's content
    else:
        shutil.copytree(
            path, dest, symlinks=True, ignore=shutil.ignore_patterns(".venv", "__pycache__")
        )
        run_checked([*_GIT, "init", "--quiet"], "git init", cwd=dest)
        _commit(dest, f"{path.name}: snapshot")
    return dest


def runtime_requirements(source: Path) -> list[str]:
    """The project's own dependencies (markers evaluated, extras left out)."""
    raw: list[str] = []
    if (source / "PKG-INFO").exists():
        meta = email.parser.Parser().parsestr((source / "PKG-INFO").read_text(errors="replace"))
        raw = meta.get_all("Requires-Dist") or []
    elif (source / "pyproject.toml").exists():
        raw = (
            tomllib.loads((source / "pyproject.toml").read_text())
            .get("project", {})
            .get("dependencies", [])
        )
    out = []
    for line in raw:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            req.marker = None
            out.append(str(req))
    return out


def _wheels(requirements: list[str], cache: Path) -> Path:
    text = "\n".join(requirements) + "\n"
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    digest = hashlib.sha256(f"{py}\n{text}".encode()).hexdigest()[:12]
    dest = cache / "wheels" / digest
    if (dest / "requirements.txt").exists():
        return dest
    tmp = dest.with_name(digest + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "in.txt").write_text(text)
    run_checked(
        _pip("wheel", "--quiet", "--wheel-dir", str(tmp), "-r", str(tmp / "in.txt")),
        f"fetching wheels for {', '.join(requirements)}",
    )
    (tmp / "in.txt").rename(tmp / "requirements.txt")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def prepare_repo(
    spec: str | Path, *, test_deps: tuple[str, ...] = DEFAULT_TEST_DEPS, cache: Path | None = None
) -> PreparedRepo:
    """A local directory or an sdist spec, checked out, committed, with its wheels ready."""
    cache = cache or cache_dir()
    path = Path(spec)
    if path.is_dir():
        source, version = _checkout_path(path, cache), "local"
        name = path.resolve().name
    else:
        sdist = fetch_sdist(str(spec), cache)
        source = _checkout_sdist(sdist, cache)
        name, _, version = sdist.name.removesuffix(".tar.gz").rpartition("-")
    requirements = [*runtime_requirements(source), *test_deps]
    wheels = _wheels(requirements, cache)
    head = run_checked(["git", "rev-parse", "HEAD^{tree}"], "git rev-parse", cwd=source).strip()
    key = hashlib.sha256(f"{head}\n{wheels.name}".encode()).hexdigest()[:12]
    src = source / "src"
    import_root = (
        "src"
        if src.is_dir() and any(p.suffix == ".py" or p.is_dir() for p in src.iterdir())
        else "."
    )
    return PreparedRepo(
        name=canonicalize_name(name),
        version=version,
        source=source,
        wheels=wheels,
        import_root=import_root,
        key=key,
    )
