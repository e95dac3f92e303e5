"""Every hook a CWM plugin can implement, made from the kinds in `cwm.core.plugins.kinds`.

A plugin is a module (or object) exposed in the ``cwm`` entry-point group. Each
``register_*`` hook returns a mapping ``{name: factory}`` for one plugin kind;
core keeps one registry per kind (see `cwm.core.plugins.registries`). Factories
are plain callables, so a plugin module stays cheap to import: put heavy
imports (torch, docker) inside the factory, not at module level.

    register_commands(cli)         add subcommands to the root ``cwm`` click group
    register_tracers() ...         {name: factory} for each kind of `KIND_TABLE`

Adding a hook is backwards compatible; renaming or removing one is a versioned
change of cwm-core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

from cwm.core.plugins.kinds import KIND_TABLE, Kind

PROJECT = "cwm"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Factories = Mapping[str, Callable[..., Any]]


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the root ``cwm`` click group ``cli``."""


def _factories_hook(kind: Kind[Any]) -> Callable[[], Factories]:
    def hook() -> Factories:
        raise NotImplementedError  # a hookspec is never called

    hook.__name__ = hook.__qualname__ = kind.hook
    hook.__module__ = __name__
    hook.__doc__ = (
        f"{kind.description[0].upper()}{kind.description[1:]}: "
        f"``{{name: factory}}``, ``factory(**options)`` returns a ``{kind.protocol}``."
    )
    return hookspec(hook)


for _kind in KIND_TABLE:
    if _kind.factories:
        globals()[_kind.hook] = _factories_hook(_kind)
del _kind

#: plugin kind -> the hook that fills its registry (kinds with factories only;
#: ``command``'s hook adds to the CLI group instead)
KIND_HOOKS: dict[str, str] = {k.name: k.hook for k in KIND_TABLE if k.factories}
