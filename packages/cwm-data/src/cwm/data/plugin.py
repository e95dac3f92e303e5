"""cwm-data's built-in plugins, registered through the ``cwm`` entry point like any other.

Everything heavy is imported inside the factories and commands, so loading this
module (which every ``cwm`` invocation does) stays cheap.
"""

from __future__ import annotations

from typing import Any

from cwm.core.plugins import hookimpl
from cwm.core.plugins.hookspecs import Factories

# --- tracer, corpora, trace datasets ---------------------------------------------------


def _tracer(backend: str) -> Any:
    def factory(**options: Any) -> Any:
        from cwm.data.trace.api import Tracer

        return Tracer(backend, **options)

    factory.__doc__ = f"The {backend} tracer: factory(**TraceConfig fields) -> Tracer."
    return factory


@hookimpl
def register_tracers() -> Factories:
    return {"settrace": _tracer("settrace"), "monitoring": _tracer("monitoring")}


@hookimpl
def register_corpora() -> Factories:
    from cwm.data.corpora.registry import BUILTIN

    return dict(BUILTIN)


# --- sandboxes, mutators, ForagerAgent (the SWE environment plugin is cwm-rl's `swe`) ----


def _docker(**options: Any) -> Any:
    from cwm.data.sandbox.containers import DockerBackend

    return DockerBackend(**options)


def _local(**options: Any) -> Any:
    from cwm.data.sandbox.local import LocalBackend

    return LocalBackend(**options)


@hookimpl
def register_sandboxes() -> Factories:
    return {"docker": _docker, "local": _local}


@hookimpl
def register_mutators() -> Factories:
    from cwm.data.forager.mutators import MUTATORS

    return MUTATORS


@hookimpl
def register_commands(cli: Any) -> None:
    from cwm.data.cli.data import data
    from cwm.data.cli.forage import forage
    from cwm.data.cli.sandbox import sandbox
    from cwm.data.cli.trace import trace

    cli.add_command(trace)
    cli.add_command(data)
    cli.add_command(sandbox)
    cli.add_command(forage)
