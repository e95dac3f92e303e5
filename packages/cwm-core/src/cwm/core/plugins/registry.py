"""One registry per plugin kind: resolve a name to a factory, or fail with the known names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cwm.core.errors import CwmError
from cwm.core.plugins.hookspecs import KIND_HOOKS
from cwm.core.plugins.manager import PluginSet

#: which first-party package provides the built-ins of a kind, for the hint
#: shown when a registry is empty.
PROVIDERS: dict[str, str] = {
    "tracer": "cwm-data",
    "corpus": "cwm-data",
    "sandbox": "cwm-data",
    "environment": "cwm-rl",
    "mutator": "cwm-data",
    "reward": "cwm-rl",
    "attention": "cwm-core[torch]",
    "hardware": "cwm-train",
    "policy_loss": "cwm-rl",
}


class UnknownPluginError(CwmError, KeyError):
    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, known
        if known:
            msg = f"unknown {kind} {name!r}; installed: {', '.join(known)}"
        else:
            msg = f"unknown {kind} {name!r}; no {kind} plugins are installed (install {PROVIDERS.get(kind, 'a plugin')})"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    package: str


class Registry:
    """Named factories of one plugin kind, collected from every plugin's hook."""

    def __init__(self, kind: str, entries: dict[str, Entry]):
        self.kind = kind
        self._entries = entries

    @classmethod
    def collect(cls, kind: str, plugins: PluginSet) -> Registry:
        if kind not in KIND_HOOKS:
            raise CwmError(f"unknown plugin kind {kind!r}; kinds: {', '.join(sorted(KIND_HOOKS))}")
        entries: dict[str, Entry] = {}
        hook = getattr(plugins.pm.hook, KIND_HOOKS[kind])
        for impl in reversed(hook.get_hookimpls()):  # registration order
            package = plugins.package_of(impl.plugin)
            for name, factory in (impl.function() or {}).items():
                if name in entries:
                    raise CwmError(
                        f"{kind} {name!r} is registered twice, by {entries[name].package} "
                        f"and by {package}; uninstall one or rename it"
                    )
                if not callable(factory):
                    raise CwmError(f"{kind} {name!r} from {package} is not callable: {factory!r}")
                entries[name] = Entry(name, factory, package)
        return cls(kind, entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def get(self, name: str) -> Callable[..., Any]:
        """The factory registered as ``name``; `UnknownPluginError` lists the known names."""
        try:
            return self._entries[name].factory
        except KeyError:
            raise UnknownPluginError(self.kind, name, self.names()) from None

    def create(self, name: str, /, **options: Any) -> Any:
        """Call the factory registered as ``name`` with ``options``."""
        return self.get(name)(**options)

    def package_of(self, name: str) -> str:
        self.get(name)
        return self._entries[name].package

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
