"""cwm-data's built-in plugins, registered through the ``cwm`` entry point like any other.

Hook implementations (``@hookimpl def register_...``) are added here as the
package's capabilities land; see cwm.core.plugins.hookspecs for the hooks.
Imports stay inside the hooks and factories so that loading plugins is cheap.
"""

from __future__ import annotations

from typing import Any

from cwm.core.plugins import hookimpl
from cwm.core.plugins.hookspecs import Factories

# --- sandboxes, environments, mutators, ForagerAgent (issue 7) -------------------------


def _docker(**options: Any) -> Any:
    from cwm.data.sandbox.containers import DockerBackend

    return DockerBackend(**options)


def _local(**options: Any) -> Any:
    from cwm.data.sandbox.local import LocalBackend

    return LocalBackend(**options)


def _swe(**options: Any) -> Any:
    from cwm.data.envs.swe import SWEEnv

    return SWEEnv(**options)


@hookimpl
def register_sandboxes() -> Factories:
    return {"docker": _docker, "local": _local}


@hookimpl
def register_environments() -> Factories:
    return {"swe": _swe}


@hookimpl
def register_mutators() -> Factories:
    from cwm.data.forager.mutators import MUTATORS

    return MUTATORS


@hookimpl
def register_commands(cli: Any) -> None:
    from cwm.data.forager.cli import forage
    from cwm.data.sandbox.cli import sandbox

    cli.add_command(sandbox)
    cli.add_command(forage)


# --- end of issue 7 -----------------------------------------------------------------------
