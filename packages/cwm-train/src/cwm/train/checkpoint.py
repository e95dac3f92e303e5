"""Run checkpoints: torch DCP of the model, the optimizer and the training state.

    RUN/checkpoints/step-000200/   a cwm-core native checkpoint (``cwm_model.json`` +
                                   DCP with the model under ``model.*``), plus
                                   ``optimizer.*``, ``train`` (step, data position,
                                   RNG states, counters) and the trainer's extra
                                   groups (``ema.*``, ``last.*``) in the same DCP

so ``load_checkpoint("RUN/checkpoints/step-000200")`` (and ``cwm serve``) read the
weights directly. A save is atomic: every rank writes into
``.tmp-step-000200/``, then rank 0 renames it; a save killed half way leaves a
``.tmp-*`` directory that is ignored and removed by the next save, and the
previous checkpoint stays the latest. After a save only the last ``keep``
checkpoints are kept. DCP reshards on load, so a run can resume on another
number of ranks (the data position is global).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from cwm.core.checkpoint import dcp_io, native
from cwm.core.errors import CwmError

STEP_DIR = re.compile(r"^step-(\d+)$")
#: one optimizer, or several over disjoint parameters (`cwm.train.optim.Optimizers`)
Optimizer = torch.optim.Optimizer | Iterable[torch.optim.Optimizer]


def _rank(group: dist.ProcessGroup | None) -> int:
    return dist.get_rank(group) if dist.is_initialized() else 0


def _barrier(group: dist.ProcessGroup | None) -> None:
    if dist.is_initialized():
        dist.barrier(group)


class Checkpointer:
    """Saves and loads collectively over ``group`` (default: every rank), whose rank 0
    renames and prunes: in an RL run under torchrun the learners save, the actors do not."""

    def __init__(self, run_dir: Path, *, keep: int, group: dist.ProcessGroup | None = None):
        self.dir = Path(run_dir) / "checkpoints"
        self.keep = keep
        self.group = group

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints, oldest first."""
        if not self.dir.is_dir():
            return []
        found = [int(m.group(1)) for p in self.dir.iterdir() if (m := STEP_DIR.match(p.name))]
        return sorted(s for s in found if dcp_io.is_dcp(self.path(s)))

    def path(self, step: int) -> Path:
        return self.dir / f"step-{step:06d}"

    def latest(self) -> Path | None:
        steps = self.steps()
        return self.path(steps[-1]) if steps else None

    def holds(self, path: Path, group: str) -> bool:
        """Whether the checkpoint at ``path`` has the ``extra`` group ``group``."""
        return any(k.startswith(f"{group}.") for k in dcp_io.dcp_keys(path))

    def save(
        self,
        step: int,
        model: nn.Module,
        optimizer: Optimizer,
        train: dict[str, Any],
        extra: dict[str, dict[str, torch.Tensor]] | None = None,
    ) -> Path:
        """Save collectively (every rank calls this); returns the checkpoint's path.
        ``extra``: more groups of named tensors (``{"ema": {...}}`` is kept as ``ema.*``)."""
        final, tmp = self.path(step), self.dir / f".tmp-step-{step:06d}"
        if _rank(self.group) == 0:
            self.dir.mkdir(parents=True, exist_ok=True)
            for stale in self.dir.glob(".tmp-step-*"):  # left by a save that died
                shutil.rmtree(stale, ignore_errors=True)
        _barrier(self.group)
        state = {
            "model": get_model_state_dict(model),
            "optimizer": get_optimizer_state_dict(model, optimizer),
            # strings: DCP stores objects under flattened keys, which a loader must know in advance
            "train": {"json": json.dumps(train), "rng": json.dumps(_rng_states(self.group))},
        }
        state.update(extra or {})
        dcp_io.save(state, tmp, self.group)
        _barrier(self.group)
        if _rank(self.group) == 0:
            native.write_config(tmp, model.config, _param_dtype(model))
            if final.exists():  # the same step saved again (a rerun): replace it
                shutil.rmtree(final)
            tmp.rename(final)
            for old in self.steps()[: -self.keep] if self.keep > 0 else []:
                shutil.rmtree(self.path(old), ignore_errors=True)
        _barrier(self.group)
        return final

    def load(
        self,
        path: Path,
        model: nn.Module,
        optimizer: Optimizer,
        extra: dict[str, dict[str, torch.Tensor]] | None = None,
    ) -> dict[str, Any]:
        """Restore the model, the optimizer, the groups of ``extra`` (in place: see `holds`)
        and this rank's RNG; returns the train state."""
        native.verify(path)  # a truncated file or another model's shapes: one clear error
        state = {
            "model": get_model_state_dict(model),
            "optimizer": get_optimizer_state_dict(model, optimizer),
            "train": {"json": "", "rng": ""},
        }
        state.update(extra or {})
        try:
            dcp_io.load(state, path, self.group)
        except Exception as exc:  # DCP raises several types for a torn or foreign directory
            raise CwmError(
                f"{path}: cannot resume from this checkpoint ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); delete it or start a new run_dir"
            ) from None
        set_model_state_dict(model, state["model"])
        set_optimizer_state_dict(model, optimizer, state["optimizer"])
        rng = json.loads(state["train"]["rng"]).get(str(_rank(self.group)))
        if rng is not None:
            torch.set_rng_state(_bytes_tensor(rng["cpu"]))
            if rng.get("cuda") and torch.cuda.is_available():
                torch.cuda.set_rng_state(_bytes_tensor(rng["cuda"]))
        return json.loads(state["train"]["json"])


def _rng_states(group: dist.ProcessGroup | None) -> dict[str, dict[str, str]]:
    """Every rank's RNG states (by rank in ``group``), gathered so that all ranks save the
    same object."""
    mine = {"cpu": _b64(torch.get_rng_state())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        mine["cuda"] = _b64(torch.cuda.get_rng_state())
    if not dist.is_initialized():
        return {"0": mine}
    every: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(every, mine, group=group)
    return {str(r): s for r, s in enumerate(every)}


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode()


def _bytes_tensor(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def _param_dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype
