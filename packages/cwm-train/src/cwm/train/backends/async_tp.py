"""``async-tp``: tensor parallel whose communication overlaps the matmuls.

Sequence-parallel TP all-gathers activations before the column-wise matmuls
and reduce-scatters after the row-wise ones. Inductor's micro-pipelining pass
(``_micro_pipeline_tp``) splits those into chunks that run while the matmul
works, through symmetric memory on the TP group; it applies to compiled code,
so this backend always compiles the blocks. Needs CUDA GPUs (NVLink for a real
gain), ``parallel.tp >= 2`` and ``parallel.sequence_parallel = true``.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn
from torch.distributed.device_mesh import DeviceMesh

from cwm.core.errors import CwmError
from cwm.train.backends.wrapper import WrappedBackend, inner_backend
from cwm.train.config import ParallelConfig


class AsyncTpBackend(WrappedBackend):
    name = "async-tp"

    def __init__(self, *, base: str | None = None, **base_options: Any):
        super().__init__(inner_backend(base, base_options))

    def parallelize(
        self,
        root: nn.Module,
        model: nn.Module,
        mesh: DeviceMesh | None,
        cfg: ParallelConfig,
        *,
        compile: bool = False,
    ) -> None:
        check_async_tp(mesh, cfg)
        enable_async_tp(mesh["tp"])  # type: ignore[index]
        self.inner.parallelize(root, model, mesh, cfg, compile=True)


def check_async_tp(mesh: DeviceMesh | None, cfg: ParallelConfig) -> None:
    if mesh is None or mesh["tp"].size() < 2:
        raise CwmError(
            "async-tp overlaps tensor-parallel communication: set parallel.tp >= 2 and "
            "launch under torchrun with that many processes"
        )
    if not cfg.sequence_parallel:
        raise CwmError(
            "async-tp pipelines sequence-parallel collectives: set parallel.sequence_parallel = true"
        )
    if mesh.device_type != "cuda":
        raise CwmError(
            f"async-tp needs CUDA GPUs: symmetric memory has no {mesh.device_type} "
            "implementation; use the cuda or cpu backend here"
        )


def enable_async_tp(tp_mesh: DeviceMesh) -> None:
    import torch._inductor.config as inductor
    from torch.distributed._symmetric_memory import enable_symm_mem_for_group

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated; torch will do it itself
        enable_symm_mem_for_group(tp_mesh.get_group().group_name)
    inductor._micro_pipeline_tp = True
