"""A clear error, instead of an ImportError, where the ``torch`` extra is missing."""

from __future__ import annotations

import importlib.util

from cwm.core.errors import CwmError


def require_torch(what: str) -> None:
    if importlib.util.find_spec("torch") is None:
        raise CwmError(f"{what} needs torch: pip install 'cwm-core[torch]'")


def require_device(device: str) -> None:
    """A one-line error for a ``--device`` this machine does not have (``cuda`` without a
    GPU, ``cuda:N`` past the last one), before any weights are loaded."""
    import torch

    try:
        where = torch.device(device)
    except (RuntimeError, TypeError):
        raise CwmError(f"--device {device}: not a device; use cpu, cuda or cuda:N") from None
    if where.type != "cuda":
        return
    if not torch.cuda.is_available():
        raise CwmError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
    if where.index is not None and where.index >= torch.cuda.device_count():
        raise CwmError(
            f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s); "
            "use cuda:0 or cpu"
        )
