"""``h100-fp8``: float8 training through torchao, as a converter around a base backend.

``convert`` swaps the model's linear layers for torchao ``Float8Linear`` (before
parallelizing; the output head and layers whose dimensions are not multiples
of 16 stay in high precision); ``after_optimizer_step`` precomputes the
float8 weight scales when FSDP all-gathers float8 weights. Recipes:
``tensorwise``, ``rowwise``, ``rowwise_with_gw_hp`` (torchao's names).

Needs a GPU with float8 tensor cores (compute capability 8.9+: H100, H200,
L4, RTX 4090). ``emulate = true`` runs the same casts with high-precision
matmuls anywhere, CPU included (for tests: it is slower, not faster). MFU is
reported against the base backend's bf16 peak, as torchtitan does.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch
from torch import nn

from cwm.core.errors import CwmError
from cwm.train.backends.wrapper import WrappedBackend, inner_backend

RECIPES = ("tensorwise", "rowwise", "rowwise_with_gw_hp")


def _torchao_float8() -> Any:
    # torchao registers an Enum with torch's pytree at import, which logs a deprecation
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    try:
        import torchao.float8 as float8
    except ImportError:
        raise CwmError(
            "hardware backend 'h100-fp8' needs torchao: pip install 'cwm-train[fp8]'"
        ) from None
    return float8


class Float8Backend(WrappedBackend):
    name = "h100-fp8"

    def __init__(
        self,
        *,
        recipe: str = "rowwise",
        emulate: bool = False,
        base: str | None = None,
        fsdp_float8_all_gather: bool = False,
        skip: tuple[str, ...] = ("output",),
        **base_options: Any,
    ):
        if recipe not in RECIPES:
            raise CwmError(f"h100-fp8: unknown recipe {recipe!r}; recipes: {', '.join(RECIPES)}")
        super().__init__(inner_backend(base, base_options))
        if not emulate:
            capable = self.device_type == "cuda" and torch.cuda.get_device_capability() >= (8, 9)
            if not capable:
                raise CwmError(
                    "h100-fp8 needs a GPU with float8 tensor cores (compute capability 8.9+, "
                    "e.g. H100); elsewhere set hardware.options.emulate = true (slow, for tests)"
                )
        float8 = _torchao_float8()
        config = float8.Float8LinearConfig.from_recipe_name(recipe)
        all_gather = fsdp_float8_all_gather and recipe == "tensorwise"
        self.config = dataclasses.replace(
            config, emulate=emulate, enable_fsdp_float8_all_gather=all_gather
        )
        self.recipe, self.emulate, self.skip = recipe, emulate, tuple(skip)

    def convert(self, model: nn.Module) -> None:
        self.inner.convert(model)
        float8 = _torchao_float8()

        def wanted(module: nn.Module, fqn: str) -> bool:
            if not isinstance(module, nn.Linear) or fqn in self.skip:
                return False
            if fqn.startswith("copy_head"):  # its weights are read directly, in fp32
                return False
            return module.in_features % 16 == 0 and module.out_features % 16 == 0

        float8.convert_to_float8_training(model, config=self.config, module_filter_fn=wanted)

    def after_optimizer_step(self, model: nn.Module) -> None:
        self.inner.after_optimizer_step(model)
        if self.config.enable_fsdp_float8_all_gather:
            _torchao_float8().precompute_float8_dynamic_scale_for_fsdp(model)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "recipe": self.recipe, "emulate": self.emulate}
