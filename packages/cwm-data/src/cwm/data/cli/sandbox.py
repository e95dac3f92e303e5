"""``cwm sandbox``: set up the Docker engine and base image, list and reap containers."""

from __future__ import annotations

import sys
import time

import click

from cwm.core.cli import group

sandbox = group("sandbox", "Docker engine, base image and sandbox containers.")


@sandbox.command("setup")
@click.option("--no-install", is_flag=True, help="Do not apt-get install docker.io when missing.")
def setup(no_install: bool) -> None:
    """Start the Docker engine if needed and build the base image if absent (idempotent).

    Needs root the first time on a machine: it may install docker.io, start
    dockerd with no bridge network, and run debootstrap (a minute or two).
    """
    from cwm.data.sandbox import images
    from cwm.data.sandbox.engine import client, start_engine
    from cwm.data.sandbox.reaper import reap

    click.echo(f"engine: {start_engine(install=not no_install)}")
    c = client()
    removed = reap(c)
    if removed:
        click.echo(f"reaped {len(removed)} orphaned container(s)")
    tag = images.base_tag()
    if images.has_image(c, tag):
        click.echo(f"base image: {tag} (present)")
        return
    click.echo(f"base image: building {tag} with debootstrap ...")
    start = time.monotonic()
    images.build_base_image(c, log=sys.stderr)
    click.echo(f"base image: built {tag} in {time.monotonic() - start:.0f} s")


@sandbox.command("reap")
@click.option("--all", "everything", is_flag=True, help="Remove every cwm container, owned or not.")
def reap_command(everything: bool) -> None:
    """Remove sandbox containers whose owner process has died."""
    from cwm.data.sandbox.engine import client
    from cwm.data.sandbox.reaper import reap

    removed = reap(client(), everything=everything)
    click.echo(f"removed {len(removed)} container(s)")


@sandbox.command("ls")
def list_command() -> None:
    """List sandbox containers with their owner and whether it is alive."""
    from cwm.data.sandbox.engine import client
    from cwm.data.sandbox.reaper import LABEL, owner_alive

    for c in client().containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        alive = "alive" if owner_alive(c.labels) else "orphan"
        click.echo(
            f"{c.short_id}  {c.image.tags[0] if c.image.tags else '?'}  "
            f"pid {c.labels.get('cwm.owner.pid')}  {alive}"
        )
