"""The packages' test folders have no ``__init__.py``, so pytest imports each test module by
its file name: one run over every package's tests needs the names to be unique."""

from collections import defaultdict
from pathlib import Path

PACKAGES = Path(__file__).resolve().parents[2]


def test_test_modules_have_unique_names_across_packages() -> None:
    where = defaultdict(list)
    for path in PACKAGES.glob("*/tests/*.py"):
        if path.name != "conftest.py":  # pytest keeps each conftest apart itself
            where[path.name].append(path.parent.parent.name)
    clashes = {name: pkgs for name, pkgs in where.items() if len(pkgs) > 1}
    assert not clashes, f"rename one of each (pytest stops with an import mismatch): {clashes}"
