"""Policies that act in environments: the in-process engine, an OpenAI-compatible endpoint,
and the environment's own oracle. Each fits ``max_tokens`` to the room left in its context.

    policy = make_policy("oracle")                       # or "engine:CKPT", "openai:URL"
    action = await policy.act(context_ids, Sampling(temperature=0, max_tokens=256))
"""

from cwm.rl.policies.engine import EnginePolicy
from cwm.rl.policies.make import make_policy
from cwm.rl.policies.openai import OpenAIPolicy
from cwm.rl.policies.oracle import OraclePolicy

__all__ = ["EnginePolicy", "OpenAIPolicy", "OraclePolicy", "make_policy"]
