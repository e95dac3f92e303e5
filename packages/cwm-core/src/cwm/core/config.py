"""Configs: msgspec Structs loaded from TOML, with dotted ``--set`` overrides.

Layers, later wins: the Struct's defaults (which run on a laptop), a named
preset, a TOML file, then ``--set a.b=c`` overrides. Every value is
type-checked; an error names the key, the expected type and the value given.
Ranges are declared on the fields (``window: AtLeast1 = 512``, or any
``Annotated[int, msgspec.Meta(ge=...)]``) and checked when a config is loaded; an
out-of-range value names the key and the allowed range.

    cfg = load_config(TrainConfig, "run.toml", ["model.dim=512", "optim.lr=3e-4"])
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec
import msgspec.inspect as mi

from cwm.core.errors import CwmError

T = TypeVar("T")

# Ranges the configs share; checked by `load_config` (plain construction does not check).
AtLeast1 = Annotated[int, msgspec.Meta(ge=1)]
AtLeast0 = Annotated[int, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base class of configs: keyword-only, immutable (so a nested config can be a
    default), unknown keys are errors. Subclasses need ``kw_only=True`` again if
    they mix required and defaulted fields."""


class ConfigError(CwmError):
    pass


def parse_value(raw: str) -> Any:
    """An override's value: arrays, tables and quoted strings are TOML; the rest stays text.

    Plain text is converted to the field's type when the config is built, so
    ``dim=512`` gives an int field 512 and a str field "512".
    """
    if raw[:1] in ("[", "{", '"', "'"):
        try:
            return tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"--set value {raw!r} is not valid TOML: {exc}") from None
    return raw


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}``."""
    data: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not all(key.split(".")):
            raise ConfigError(f"--set expects KEY=VALUE with a dotted KEY, got {item!r}")
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(
                    f"--set {item!r}: {part!r} is set to a value and also used as a table"
                )
        node[leaf] = parse_value(raw.strip())
    return data


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base`` (tables merge, other values replace)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_toml(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


_WHERE = re.compile(r" - at `\$(.*)`$")
_EXPECTED = re.compile(r"^Expected `(.+?)`, got `(.+?)`")
_OUT_OF_RANGE = re.compile(r"^Expected `(int|float)` [<>]=? ")


def _lookup(data: Any, dotted: str) -> Any:
    for part in re.findall(r"[^.\[\]]+", dotted):
        try:
            data = data[int(part)] if isinstance(data, list) else data[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return data


def _field_type(cls: type, dotted: str) -> mi.Type | None:
    """The msgspec type of the field at ``dotted`` (``a.b``, ``a[0].b``) in ``cls``."""
    node: mi.Type = mi.type_info(cls)
    for part in re.findall(r"[^.\[\]]+", dotted):
        if isinstance(node, mi.UnionType):  # `X | None`: look inside X
            node = next((t for t in node.types if not isinstance(t, mi.NoneType)), node)
        if isinstance(node, (mi.ListType, mi.TupleType, mi.VarTupleType)) and part.isdigit():
            node = node.item_type if hasattr(node, "item_type") else node.item_types[int(part)]
        elif isinstance(node, mi.StructType):
            node = next((f.type for f in node.fields if f.encode_name == part), None)
            if node is None:
                return None
        else:
            return None
    if isinstance(node, mi.UnionType):
        node = next((t for t in node.types if isinstance(t, (mi.IntType, mi.FloatType))), node)
    return node


def describe_range(info: mi.IntType | mi.FloatType) -> str:
    """``>= 1``, ``> 0``, ``in [0, 1]``: the bounds a numeric field allows."""
    low = [f"{op} {v:g}" for op, v in ((">=", info.ge), (">", info.gt)) if v is not None]
    high = [f"{op} {v:g}" for op, v in (("<=", info.le), ("<", info.lt)) if v is not None]
    if low and high:
        return f"{low[0]} and {high[0]}"
    return (low or high)[0]


def _explain(
    exc: msgspec.ValidationError,
    data: dict[str, Any],
    source: str,
    cls: type | None = None,
    prefix: str = "",
) -> str:
    message = str(exc)
    match = _WHERE.search(message)
    where = match.group(1).lstrip(".") if match else ""
    what = _WHERE.sub("", message)
    info = _field_type(cls, where) if cls is not None and _OUT_OF_RANGE.match(what) else None
    if isinstance(info, (mi.IntType, mi.FloatType)):
        kind = "an int" if isinstance(info, mi.IntType) else "a number"
        value = _lookup(data, where)
        shown = value if isinstance(value, str) else repr(value)  # override text as typed
        what = f"must be {kind} {describe_range(info)}, got {shown}"
    elif (m := _EXPECTED.match(what)) is not None:
        what = f"expected {m.group(1)}, got {m.group(2)} {_lookup(data, where)!r}"
    elif what.startswith("Object contains unknown field"):
        field = what.split("`")[1]
        if not where and isinstance(cls, type) and issubclass(cls, msgspec.Struct):  # top level
            names = ", ".join(f.name for f in msgspec.structs.fields(cls))  # type: ignore[arg-type]
            source = f"{source}; known keys: {names}" if names else f"{source} take no keys"
        where, what = ".".join(filter(None, [where, field])), "unknown key"
    else:
        what = what[0].lower() + what[1:]
    where = ".".join(filter(None, [prefix, where]))
    return f"config key {where or '(root)'}: {what} ({source})"


def load_config(
    cls: type[T],
    path: Path | str | None = None,
    overrides: Sequence[str] = (),
    *,
    preset: Mapping[str, Any] | None = None,
) -> T:
    """Build a ``cls`` from defaults, a ``preset``, a TOML ``path`` and ``--set`` overrides."""
    data = dict(preset or {})
    sources = ["defaults"] + (["preset"] if preset else [])
    if path is not None:
        data = merge(data, read_toml(path))
        sources.append(str(path))
    if overrides:
        data = merge(data, parse_overrides(overrides))
        sources.append("--set")
    return convert_config(cls, data, source=" + ".join(sources))


def convert_config(cls: type[T], data: dict[str, Any], *, source: str, prefix: str = "") -> T:
    """``data`` as a ``cls``, types and ranges checked; an error names ``prefix.key``."""
    try:
        # lax mode converts override text ("512", "3e-4", "true") to the field's type
        return msgspec.convert(data, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, data, source, cls, prefix)) from None


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain data (for logs and run directories)."""
    return msgspec.to_builtins(config)
