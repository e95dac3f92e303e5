"""dtype names as checkpoints write them ("bfloat16"), and the dtype a state dict holds."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from cwm.core.errors import CwmError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def dtype_of(name: str) -> torch.dtype:
    try:
        return DTYPES[name.removeprefix("torch.")]
    except KeyError:
        raise CwmError(f"unsupported dtype {name!r}; use one of {', '.join(DTYPES)}") from None


def name_of(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def state_dtype(state: Mapping[str, Tensor]) -> torch.dtype:
    """The floating dtype of a state dict's tensors (they share one in every CWM checkpoint)."""
    dtypes = {t.dtype for t in state.values() if t.is_floating_point()}
    if len(dtypes) != 1:
        raise CwmError(f"checkpoint mixes dtypes {sorted(map(name_of, dtypes))}; cannot pick one")
    return dtypes.pop()
