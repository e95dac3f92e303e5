"""Finding Python modules under a directory, with their dotted names."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cwm.core.errors import CwmError

#: never harvested: side effects on import, GUI toolkits, the test suite itself
SKIP_MODULES = frozenset(
    {
        "antigravity",
        "this",
        "__main__",
        "__phello__",
        "__hello__",
        "turtle",
        "tkinter",
        "idlelib",
        "turtledemo",
        "test",
        "tests",
        "lib2to3",
        "ensurepip",
        "venv",
        "pydoc_data",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "_pydev_bundle",
        "setup",
        "conftest",
    }
)


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "email.utils"
    path: Path
    is_package: bool  # an __init__.py

    @property
    def package(self) -> str:
        """``__package__`` for the module: itself for a package, else its parent."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def package_dir(name: str) -> tuple[Path, str]:
    """The directory of an installed package and the dotted prefix of its modules."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise CwmError(f"package {name!r} is not installed in this environment")
    origin = Path(spec.origin)
    if origin.name == "__init__.py":
        return origin.parent, name
    return origin.parent, name.rpartition(".")[0]  # a single-file module


def iter_modules(root: Path, prefix: str = "", tests: bool = False) -> Iterator[Module]:
    """The .py modules under ``root``; ``prefix`` is the dotted name of ``root`` itself.

    ``tests=False`` leaves out test suites (``test``/``tests`` packages, ``test_*.py``).
    """
    skip = frozenset({"__pycache__", "site-packages"}) if tests else SKIP_MODULES
    if root.is_file():
        yield Module(prefix or root.stem, root, False)
        return
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        parts = list(rel.with_suffix("").parts)
        if any(p in skip or p.startswith(".") or "-" in p for p in parts):
            continue
        if not tests and parts[-1].startswith("test_"):
            continue
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join([p for p in [prefix] if p] + parts)
        if name:
            yield Module(name, path, is_package)
