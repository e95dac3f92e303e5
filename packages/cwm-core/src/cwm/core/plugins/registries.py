"""One registry per plugin kind: resolve a name to a factory, or fail with the known names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Generic, TypeVar

from cwm.core.errors import CwmError
from cwm.core.plugins.binding import bind_options
from cwm.core.plugins.kinds import KIND_TABLE, Kind, kind
from cwm.core.plugins.manager import PluginSet

T = TypeVar("T")

#: which first-party package provides the built-ins of a kind, for the hint
#: shown when a registry is empty
PROVIDERS: dict[str, str] = {k.name: k.provider for k in KIND_TABLE}


def hint(kind: str) -> str:
    """What to install for an empty registry: the providing package, or, when it is already
    installed and brings none yet, any plugin package of that kind."""
    provider = PROVIDERS.get(kind)
    if provider is None:
        return "install a plugin package"
    try:
        version(provider.partition("[")[0])
    except PackageNotFoundError:
        return f"install {provider}"
    return f"{provider} brings none yet: install a plugin package that registers one"


class UnknownPluginError(CwmError, KeyError):
    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, known
        if known:
            msg = f"unknown {kind} {name!r}; installed: {', '.join(known)}"
        else:
            msg = f"unknown {kind} {name!r}; no {kind} plugins are installed ({hint(kind)})"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    factory: Callable[..., T]
    package: str


class Registry(Generic[T]):
    """Named factories of one plugin kind, collected from every plugin's hook.

    ``T`` is the kind's Protocol (`cwm.core.plugins.kinds`), so ``create()`` is typed.
    """

    def __init__(self, kind: Kind[T], entries: dict[str, Entry[T]]):
        self.kind = kind
        self._entries = entries

    @classmethod
    def collect(cls, of: Kind[T] | str, plugins: PluginSet) -> Registry[T]:
        k = kind(of) if isinstance(of, str) else of
        if not k.factories:
            raise CwmError(
                f"plugin kind {k.name!r} has no registry: its hook {k.hook} adds to the CLI"
            )
        entries: dict[str, Entry[T]] = {}
        hook = getattr(plugins.pm.hook, k.hook)
        for impl in reversed(hook.get_hookimpls()):  # registration order
            package = plugins.package_of(impl.plugin)
            for name, factory in (impl.function() or {}).items():
                if name in entries:
                    raise CwmError(
                        f"{k.name} {name!r} is registered twice, by {entries[name].package} "
                        f"and by {package}; uninstall one or rename it"
                    )
                if not callable(factory):
                    raise CwmError(f"{k.name} {name!r} from {package} is not callable: {factory!r}")
                entries[name] = Entry(name, factory, package)
        return cls(k, entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[n] for n in self.names()]

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; `UnknownPluginError` lists the known names."""
        try:
            return self._entries[name].factory
        except KeyError:
            raise UnknownPluginError(self.kind.name, name, self.names()) from None

    def create(self, name: str, /, **options: Any) -> T:
        """Call the factory registered as ``name`` with ``options``: text values convert to
        the parameters' types, and options it does not take are a `CwmError` listing its own."""
        factory = self.get(name)
        return factory(**bind_options(f"{self.kind.name} {name!r}", factory, options))

    def package_of(self, name: str) -> str:
        self.get(name)
        return self._entries[name].package

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
