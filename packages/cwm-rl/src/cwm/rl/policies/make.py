"""A policy from a short spec: ``oracle``, ``engine:CHECKPOINT`` or ``openai:BASE_URL``."""

from __future__ import annotations

from typing import Any

from cwm.core.errors import CwmError


def make_policy(spec: str, **options: Any) -> Any:
    kind, _, target = spec.partition(":")
    if kind == "oracle" and not target:
        from cwm.rl.policies.oracle import OraclePolicy

        return OraclePolicy()
    if kind == "engine" and target:
        from cwm.rl.policies.engine import EnginePolicy

        return EnginePolicy.from_checkpoint(target, **options)
    if kind == "openai" and target:
        from cwm.rl.policies.openai import OpenAIPolicy

        return OpenAIPolicy(target, **options)
    raise CwmError(f"unknown policy {spec!r}; use oracle, engine:CHECKPOINT or openai:BASE_URL")
