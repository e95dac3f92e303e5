"""Loading plugins: the ``cwm`` entry-point group plus in-process registrations.

Each installed package exposes one module in the ``cwm`` entry-point group
(cwm-core's own built-ins included), so installing a package is what makes its
plugins appear. A plugin that fails to import is reported, not fatal: the rest
of the CLI keeps working and ``cwm plugins`` shows what broke.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from cwm.core.plugins import hookspecs

LOCAL = "<local>"  # origin of plugins registered in-process (tests, notebooks)


@dataclass
class BrokenPlugin:
    name: str
    package: str
    error: str


@dataclass
class PluginSet:
    """A pluggy manager plus where each plugin came from."""

    pm: pluggy.PluginManager
    origins: dict[str, str] = field(default_factory=dict)  # plugin name -> package
    broken: list[BrokenPlugin] = field(default_factory=list)

    def package_of(self, plugin: object) -> str:
        name = self.pm.get_name(plugin)
        return self.origins.get(name or "", LOCAL)


def load_plugins(group: str = hookspecs.PROJECT) -> PluginSet:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins = PluginSet(pm)
    for ep in sorted(
        entry_points(group=group), key=lambda e: (e.dist.name if e.dist else "", e.name)
    ):
        package = ep.dist.name if ep.dist else "?"
        name = f"{package}:{ep.name}"
        if pm.has_plugin(name):  # the same distribution seen twice on sys.path
            continue
        try:
            pm.register(ep.load(), name=name)
        except Exception as exc:  # a broken third-party plugin must not break the CLI
            plugins.broken.append(BrokenPlugin(ep.name, package, f"{type(exc).__name__}: {exc}"))
            print(
                f"cwm: warning: plugin {ep.name!r} from {package} failed to load: {exc}",
                file=sys.stderr,
            )
            continue
        plugins.origins[name] = package
    return plugins


def register(plugins: PluginSet, plugin: Any, name: str | None = None) -> str:
    """Register an in-process plugin (an object or module with hookimpls)."""
    registered = plugins.pm.register(plugin, name=name)
    if registered is None:
        raise ValueError(f"plugin {name or plugin!r} is already registered")
    return registered
