"""Plugins: pluggy hooks, entry-point loading, and one registry per kind.

Typical use::

    from cwm.core.plugins import registry
    tracer = registry("tracer").create("settrace", max_steps=1000)

A plugin package declares ``[project.entry-points.cwm] myplugin = "my_pkg.plugin"``
and implements hooks from `cwm.core.plugins.hookspecs` with ``@hookimpl``.
"""

from __future__ import annotations

from typing import Any

from cwm.core.plugins.hookspecs import KIND_HOOKS, hookimpl, hookspec
from cwm.core.plugins.manager import BrokenPlugin, PluginSet, load_plugins
from cwm.core.plugins.manager import register as _register
from cwm.core.plugins.registry import Entry, Registry, UnknownPluginError

__all__ = [
    "KINDS",
    "BrokenPlugin",
    "Entry",
    "PluginSet",
    "Registry",
    "UnknownPluginError",
    "hookimpl",
    "hookspec",
    "plugins",
    "register_plugin",
    "registry",
    "unregister_plugin",
]

KINDS: tuple[str, ...] = tuple(KIND_HOOKS)

_plugins: PluginSet | None = None
_registries: dict[str, Registry] = {}


def plugins() -> PluginSet:
    """The process-wide plugin set, loaded from entry points on first use."""
    global _plugins
    if _plugins is None:
        _plugins = load_plugins()
    return _plugins


def registry(kind: str) -> Registry:
    """The registry of one plugin kind (see `KINDS`)."""
    if kind not in _registries:
        _registries[kind] = Registry.collect(kind, plugins())
    return _registries[kind]


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register an in-process plugin object or module; returns its name."""
    registered = _register(plugins(), plugin, name)
    _registries.clear()
    return registered


def unregister_plugin(name: str) -> None:
    plugins().pm.unregister(name=name)
    _registries.clear()
