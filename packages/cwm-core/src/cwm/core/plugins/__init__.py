"""Plugins: pluggy hooks, entry-point loading, and one typed registry per kind.

Typical use::

    from cwm.core.plugins import registry
    tracer = registry("tracer").create("settrace", max_steps=1000)  # a Tracer

A plugin package declares ``[project.entry-points.cwm] myplugin = "my_pkg.plugin"``
and implements hooks from `cwm.core.plugins.hookspecs` with ``@hookimpl``. The
kinds, their hooks and what their factories return are declared once, in
`cwm.core.plugins.kinds`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from cwm.core.plugins.hookspecs import KIND_HOOKS, hookimpl, hookspec
from cwm.core.plugins.kinds import KIND_TABLE, Kind, kind
from cwm.core.plugins.manager import BrokenPlugin, PluginSet, load_plugins
from cwm.core.plugins.manager import register as _register
from cwm.core.plugins.registries import Entry, Registry, UnknownPluginError

if TYPE_CHECKING:
    from cwm.core.attention.base import AttentionBackend
    from cwm.core.envs import Environment, Reward
    from cwm.core.protocols import (
        Corpus,
        HardwareBackend,
        Logger,
        Mutator,
        PolicyLoss,
        SandboxBackend,
        Tracer,
    )

__all__ = [
    "KINDS",
    "KIND_TABLE",
    "BrokenPlugin",
    "Entry",
    "Kind",
    "PluginSet",
    "Registry",
    "UnknownPluginError",
    "hookimpl",
    "hookspec",
    "kind",
    "plugins",
    "register_plugin",
    "registry",
    "unregister_plugin",
]

#: the names of the kinds that have a registry (every kind but ``command``)
KINDS: tuple[str, ...] = tuple(KIND_HOOKS)

T = TypeVar("T")

_plugins: PluginSet | None = None
_registries: dict[str, Registry[Any]] = {}


def plugins() -> PluginSet:
    """The process-wide plugin set, loaded from entry points on first use."""
    global _plugins
    if _plugins is None:
        _plugins = load_plugins()
    return _plugins


# One overload per kind with a registry, so `registry("tracer").create(...)` is a Tracer
# to a type checker; a test keeps these in step with KIND_TABLE.
@overload
def registry(kind: Kind[T]) -> Registry[T]: ...
@overload
def registry(kind: Literal["tracer"]) -> Registry[Tracer]: ...
@overload
def registry(kind: Literal["corpus"]) -> Registry[Corpus]: ...
@overload
def registry(kind: Literal["sandbox"]) -> Registry[SandboxBackend]: ...
@overload
def registry(kind: Literal["environment"]) -> Registry[Environment]: ...
@overload
def registry(kind: Literal["mutator"]) -> Registry[Mutator]: ...
@overload
def registry(kind: Literal["reward"]) -> Registry[Reward]: ...
@overload
def registry(kind: Literal["attention"]) -> Registry[AttentionBackend]: ...
@overload
def registry(kind: Literal["hardware"]) -> Registry[HardwareBackend]: ...
@overload
def registry(kind: Literal["policy_loss"]) -> Registry[PolicyLoss]: ...
@overload
def registry(kind: Literal["logger"]) -> Registry[Logger]: ...
@overload
def registry(kind: str) -> Registry[Any]: ...
def registry(kind: Kind[Any] | str) -> Registry[Any]:
    """The registry of one plugin kind (a `Kind` or its name; see `KINDS`)."""
    name = kind if isinstance(kind, str) else kind.name
    if name not in _registries:
        _registries[name] = Registry.collect(kind, plugins())
    return _registries[name]


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register an in-process plugin object or module; returns its name."""
    registered = _register(plugins(), plugin, name)
    _registries.clear()
    return registered


def unregister_plugin(name: str) -> None:
    plugins().pm.unregister(name=name)
    _registries.clear()
