"""Plugin options checked against the factory's signature before the factory runs.

Options often come from the command line (``--set env_options.mode=full``) as text, so a
text value converts to the parameter's annotated type (``"2"`` for ``lo: float``); an
unknown or missing option is a one-line error that lists the factory's parameters, not a
TypeError from deep inside the call. Errors raised inside the factory are left alone.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import msgspec

from cwm.core.errors import CwmError


def factory_signature(target: Callable[..., Any]) -> inspect.Signature | None:
    """``target``'s signature with its annotations resolved where they can be; None when it
    has none (a builtin)."""
    try:
        return inspect.signature(target, eval_str=True)
    except (NameError, SyntaxError, TypeError, AttributeError):  # an unresolvable annotation
        pass
    except ValueError:
        return None
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def describe(signature: inspect.Signature) -> str:
    shown = []
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            shown.append(f"**{p.name}")
        elif p.kind is not p.VAR_POSITIONAL:
            shown.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(shown) or "none"


def bind_options(what: str, factory: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """``options`` as ``factory`` takes them: text converted, or a `CwmError` naming ``what``."""
    signature = factory_signature(factory)
    if signature is None:
        return options
    try:
        bound = signature.bind(**options)
    except TypeError as exc:
        raise CwmError(f"{what}: {exc}; its options are {describe(signature)}") from None
    converted = dict(options)
    for name, value in bound.arguments.items():
        param = signature.parameters[name]
        if param.kind is param.VAR_KEYWORD or not isinstance(value, str):
            continue  # **options are the factory's to check (a config Struct does)
        converted[name] = _from_text(what, name, value, param.annotation)
    return converted


def _from_text(what: str, name: str, value: str, annotation: Any) -> Any:
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        return value  # unknown type: passed as given
    try:
        return msgspec.convert(value, annotation, strict=False)
    except msgspec.ValidationError as exc:
        raise CwmError(f"{what}: option {name}={value!r}: {exc}") from None
    except TypeError:  # a type msgspec does not know (a tokenizer object): passed as given
        return value


class LazyFactory:
    """A plugin factory that imports ``module.attr`` on first use (loading plugins stays
    cheap) and shows its signature, so options are checked against the real parameters."""

    def __init__(self, module: str, attr: str):
        self.module, self.attr = module, attr
        self.__name__ = attr
        self.__doc__ = f"{module}.{attr}"

    def target(self) -> Callable[..., Any]:
        return getattr(importlib.import_module(self.module), self.attr)

    @property
    def __signature__(self) -> inspect.Signature | None:  # what inspect.signature reads
        return factory_signature(self.target())

    def __call__(self, **options: Any) -> Any:
        return self.target()(**options)

    def __repr__(self) -> str:
        return f"<plugin factory {self.module}.{self.attr}>"
