"""Independent versions, checked: every dependency of a workspace package on a sibling
declares a version range, the workspace's versions satisfy every range, and every
package's CHANGELOG.md has an entry for its version.

    python .ci/check_versions.py [ROOT]    # exit 1 with one line per problem

Run by ``uv run nox`` (session ``versions``). Needs ``packaging`` (nox brings it).
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version


def members(root: Path) -> dict[str, tuple[Path, Version]]:
    """Workspace package name -> (its directory, its version)."""
    found = {}
    for pyproject in sorted(root.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        found[project["name"]] = (pyproject.parent, Version(project["version"]))
    return found


def requirements(pyproject: Path) -> Iterator[tuple[str, Requirement]]:
    """(where it is declared, requirement) for every dependency of one pyproject.toml."""
    data = tomllib.loads(pyproject.read_text())
    project = data.get("project", {})
    for spec in project.get("dependencies", []):
        yield "dependencies", Requirement(spec)
    for extra, specs in project.get("optional-dependencies", {}).items():
        for spec in specs:
            yield f"optional-dependencies.{extra}", Requirement(spec)
    for group, specs in data.get("dependency-groups", {}).items():
        for spec in specs:
            if isinstance(spec, str):  # not an {include-group = ...} table
                yield f"dependency-groups.{group}", Requirement(spec)


def problems(root: Path) -> list[str]:
    packages = members(root)
    checked = [path / "pyproject.toml" for path, _ in packages.values()]
    checked += sorted(root.glob("examples/*/pyproject.toml"))
    out = []
    for pyproject in checked:
        where_file = pyproject.relative_to(root)
        for where, req in requirements(pyproject):
            if req.name not in packages:
                continue
            version = packages[req.name][1]
            if not req.specifier:
                out.append(
                    f"{where_file} ({where}): {req.name} has no version range; declare the "
                    f"versions it works with, e.g. {req.name}>={version.major}.{version.minor},"
                    f"<{version.major}.{version.minor + 1}"
                )
            elif not req.specifier.contains(version, prereleases=True):
                out.append(
                    f"{where_file} ({where}): {req} does not accept the workspace's {req.name} "
                    f"{version}; check it works with {version} and widen the range (or bump it)"
                )
    for name, (path, version) in packages.items():
        changelog = path / "CHANGELOG.md"
        heading = re.compile(rf"^## {re.escape(str(version))}\b", re.M)
        if not changelog.is_file() or not heading.search(changelog.read_text()):
            out.append(
                f"{changelog.relative_to(root)}: no '## {version}' entry for {name} {version}; "
                "add one saying what changed"
            )
    return out


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    found = problems(root)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        sys.exit(1)
    print(f"versions: {len(members(root))} packages, every sibling range satisfied")


if __name__ == "__main__":
    main()
