"""``cwm plugins``: what is installed, by kind and package; ``--kinds``: the kinds themselves."""

from __future__ import annotations

import json

import click

from cwm.core.plugins import KIND_TABLE, plugins, registry
from cwm.core.plugins.kinds import markdown_table


def installed() -> list[dict[str, str]]:
    """One row per plugin: kind, name, package; in `KIND_TABLE` order (commands first)."""
    root = click.get_current_context().find_root().command
    rows = []
    for kind in KIND_TABLE:
        if kind.factories:
            found = [(e.name, e.package) for e in registry(kind).entries()]
        else:  # commands: the root group records which package added each
            found = sorted(getattr(root, "origins", {}).items())
        rows += [{"kind": kind.name, "name": name, "package": pkg} for name, pkg in found]
    return rows


def kinds() -> list[dict[str, str]]:
    """One row per kind, straight from `KIND_TABLE`."""
    fields = ("hook", "provider", "protocol", "description")
    return [{"kind": k.name, **{f: getattr(k, f) for f in fields}} for k in KIND_TABLE]


def echo_table(rows: list[dict[str, str]], columns: tuple[str, ...]) -> None:
    header = {c: c.upper() for c in columns}
    widths = [max(len(r[c]) for r in [header, *rows]) for c in columns]
    for r in [header, *rows]:
        click.echo("  ".join(r[c].ljust(w) for c, w in zip(columns, widths)).rstrip())


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--kinds", "show_kinds", is_flag=True, help="List the plugin kinds, not plugins.")
@click.option("--markdown", is_flag=True, help="With --kinds: the Markdown table the docs carry.")
def plugins_command(as_json: bool, show_kinds: bool, markdown: bool) -> None:
    """List installed plugins by kind, with the package that provides each."""
    if show_kinds:
        rows = kinds()
        if markdown:
            click.echo(markdown_table(), nl=False)
        elif as_json:
            click.echo(json.dumps({"kinds": rows}, indent=2))
        else:
            echo_table(rows, ("kind", "hook", "provider", "protocol"))
        return
    rows = installed()
    broken = [{"name": b.name, "package": b.package, "error": b.error} for b in plugins().broken]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "broken": broken}, indent=2))
        return
    echo_table(rows, ("kind", "name", "package"))
    empty = [k.name for k in KIND_TABLE if not any(r["kind"] == k.name for r in rows)]
    if empty:
        click.echo(f"\nno plugins yet for: {', '.join(empty)}")
    for b in broken:
        click.echo(f"\nbroken: {b['name']} ({b['package']}): {b['error']}", err=True)
