"""An environment's options (plugin keyword arguments) checked into its config Struct."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from cwm.core.errors import CwmError

C = TypeVar("C")


def config_of(cls: type[C], env: str, options: dict[str, Any]) -> C:
    """``cls(**options)`` with a one-line error naming the environment and the bad key; text
    values convert to the field's type (``--set env_options.max_turns=6`` gives the text "6")."""
    try:
        return msgspec.convert(options, cls, strict=False)
    except msgspec.ValidationError as exc:
        fields = ", ".join(f.name for f in msgspec.structs.fields(cls))  # type: ignore[arg-type]
        known = f"its options are {fields}" if fields else "it takes no options"
        raise CwmError(f"environment {env!r}: {exc}; {known} (and tokenizer)") from None
