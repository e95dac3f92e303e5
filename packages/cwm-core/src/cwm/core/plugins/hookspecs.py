"""Every hook a CWM plugin can implement.

A plugin is a module (or object) exposed in the ``cwm`` entry-point group. Each
``register_*`` hook returns a mapping ``{name: factory}`` for one plugin kind;
core keeps one registry per kind (see `cwm.core.plugins.registry`). Factories
are plain callables, so a plugin module stays cheap to import: put heavy
imports (torch, docker) inside the factory, not at module level.

Adding a hook is backwards compatible; renaming or removing one is a versioned
change of cwm-core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

PROJECT = "cwm"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Factories = Mapping[str, Callable[..., Any]]


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the root ``cwm`` click group ``cli``."""


@hookspec
def register_tracers() -> Factories:
    """Python execution tracers: ``factory(**options) -> Tracer``."""


@hookspec
def register_corpora() -> Factories:
    """Sources of functions or documents to trace or train on."""


@hookspec
def register_sandboxes() -> Factories:
    """Places to run untrusted code: ``factory(**options) -> Sandbox``."""


@hookspec
def register_environments() -> Factories:
    """Agentic environments (tools, budgets, grading) for trajectories and RL."""


@hookspec
def register_mutators() -> Factories:
    """Syntax-tree bug-injection operators for mutate-fix tasks."""


@hookspec
def register_rewards() -> Factories:
    """Reward functions for RL and for grading trajectories."""


@hookspec
def register_attention_backends() -> Factories:
    """Attention implementations: ``sdpa``, ``flex``, ``flash``, ..."""


@hookspec
def register_hardware_backends() -> Factories:
    """Hardware backends that convert and parallelize a model for a device."""


@hookspec
def register_policy_losses() -> Factories:
    """RL policy losses (GRPO variants, PPO-clip, ...)."""


@hookspec
def register_loggers() -> Factories:
    """Experiment trackers: ``factory(run_dir=, resume_step=, **options) -> Logger``."""


#: plugin kind -> the hook that fills its registry. ``command`` is special:
#: its hook mutates the CLI group instead of returning factories.
KIND_HOOKS: dict[str, str] = {
    "tracer": "register_tracers",
    "corpus": "register_corpora",
    "sandbox": "register_sandboxes",
    "environment": "register_environments",
    "mutator": "register_mutators",
    "reward": "register_rewards",
    "attention": "register_attention_backends",
    "hardware": "register_hardware_backends",
    "policy_loss": "register_policy_losses",
    "logger": "register_loggers",
}
