"""``cwm plugins``: what is installed, by kind and package."""

from __future__ import annotations

import json

import click

from cwm.core.plugins import KINDS, plugins, registry


def installed() -> list[dict[str, str]]:
    """One row per plugin: kind, name, package; commands first."""
    root = click.get_current_context().find_root().command
    rows = [
        {"kind": "command", "name": name, "package": package}
        for name, package in sorted(getattr(root, "origins", {}).items())
    ]
    for kind in KINDS:
        rows += [
            {"kind": kind, "name": e.name, "package": e.package} for e in registry(kind).entries()
        ]
    return rows


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins by kind, with the package that provides each."""
    rows = installed()
    broken = [{"name": b.name, "package": b.package, "error": b.error} for b in plugins().broken]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "broken": broken}, indent=2))
        return
    widths = [max(len(r[k]) for r in [*rows, {"kind": "KIND", "name": "NAME", "package": "PACKAGE"}])
              for k in ("kind", "name", "package")]  # fmt: skip
    for r in [{"kind": "KIND", "name": "NAME", "package": "PACKAGE"}, *rows]:
        click.echo(
            "  ".join(r[k].ljust(w) for k, w in zip(("kind", "name", "package"), widths)).rstrip()
        )
    empty = [k for k in KINDS if not len(registry(k))]
    if empty:
        click.echo(f"\nno plugins yet for: {', '.join(empty)}")
    for b in broken:
        click.echo(f"\nbroken: {b['name']} ({b['package']}): {b['error']}", err=True)
