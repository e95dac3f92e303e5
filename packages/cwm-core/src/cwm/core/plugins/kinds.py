"""Every plugin kind, declared once.

A kind is a name, the hook that fills its registry, the first-party package that
provides its built-ins, the Protocol its factories' results satisfy and one line
saying what it is. The hookspecs, the registries, ``cwm plugins`` and the README
tables are made from (or checked against) `KIND_TABLE`; adding a kind is adding a
row here. Protocols are named as ``module:Name`` and imported only when asked
for, so this module stays cheap and torch-free.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cwm.core.errors import CwmError

if TYPE_CHECKING:
    import click

    from cwm.core.attention.base import AttentionBackend
    from cwm.core.envs import Environment, Reward
    from cwm.core.protocols import (
        Corpus,
        HardwareBackend,
        Logger,
        Mutator,
        PolicyLoss,
        SandboxBackend,
        Tracer,
    )

T = TypeVar("T")


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One plugin kind; ``T`` is what its factories return."""

    name: str
    hook: str  # the hookspec in cwm.core.plugins.hookspecs
    provider: str  # the first-party package whose built-ins fill it
    protocol: str  # "module:Name" of the Protocol its factories' results satisfy
    description: str
    factories: bool = True  # False for `command`: its hook adds click commands instead

    def load_protocol(self) -> type[T]:
        """The Protocol class (imports its module: the attention one needs torch)."""
        module, _, name = self.protocol.partition(":")
        return getattr(importlib.import_module(module), name)


TRACER: Kind[Tracer] = Kind(
    name="tracer",
    hook="register_tracers",
    provider="cwm-data",
    protocol="cwm.core.protocols:Tracer",
    description="Python execution tracers that record a call's frames as a Trace",
)
CORPUS: Kind[Corpus] = Kind(
    name="corpus",
    hook="register_corpora",
    provider="cwm-data",
    protocol="cwm.core.protocols:Corpus",
    description="sources of functions and calls to trace or train on",
)
SANDBOX: Kind[SandboxBackend] = Kind(
    name="sandbox",
    hook="register_sandboxes",
    provider="cwm-data",
    protocol="cwm.core.protocols:SandboxBackend",
    description="places to run untrusted code: build a repository image, start sandboxes from it",
)
ENVIRONMENT: Kind[Environment] = Kind(
    name="environment",
    hook="register_environments",
    provider="cwm-rl",
    protocol="cwm.core.envs:Environment",
    description="token-level episodes (start, step) for trajectories, RL and evaluation",
)
MUTATOR: Kind[Mutator] = Kind(
    name="mutator",
    hook="register_mutators",
    provider="cwm-data",
    protocol="cwm.core.protocols:Mutator",
    description="syntax-tree bug-injection operators for mutate-fix tasks",
)
REWARD: Kind[Reward] = Kind(
    name="reward",
    hook="register_rewards",
    provider="cwm-rl",
    protocol="cwm.core.envs:Reward",
    description="reward functions read from a rollout and its outcomes",
)
ATTENTION: Kind[AttentionBackend] = Kind(
    name="attention",
    hook="register_attention_backends",
    provider="cwm-core[torch]",
    protocol="cwm.core.attention.base:AttentionBackend",
    description="attention implementations the model picks by name (ModelConfig.attention)",
)
HARDWARE: Kind[HardwareBackend] = Kind(
    name="hardware",
    hook="register_hardware_backends",
    provider="cwm-train",
    protocol="cwm.core.protocols:HardwareBackend",
    description="hardware backends that convert and parallelize a model for a device",
)
POLICY_LOSS: Kind[PolicyLoss] = Kind(
    name="policy_loss",
    hook="register_policy_losses",
    provider="cwm-rl",
    protocol="cwm.core.protocols:PolicyLoss",
    description="RL policy losses over token logprobs and advantages",
)
LOGGER: Kind[Logger] = Kind(
    name="logger",
    hook="register_loggers",
    provider="cwm-core",
    protocol="cwm.core.protocols:Logger",
    description="where a run's config, metrics and histograms go",
)
COMMAND: Kind[click.Command] = Kind(
    name="command",
    hook="register_commands",
    provider="cwm-core",
    protocol="click:Command",
    description="subcommands of the single cwm CLI (the hook adds them to the root group)",
    factories=False,
)

#: every kind, in the order `cwm plugins` and the docs list them
KIND_TABLE: tuple[Kind[Any], ...] = (
    COMMAND,
    TRACER,
    CORPUS,
    SANDBOX,
    ENVIRONMENT,
    MUTATOR,
    REWARD,
    ATTENTION,
    HARDWARE,
    POLICY_LOSS,
    LOGGER,
)


def kind(name: str) -> Kind[Any]:
    """The kind called ``name``; a `CwmError` lists the kinds there are."""
    for k in KIND_TABLE:
        if k.name == name:
            return k
    raise CwmError(f"unknown plugin kind {name!r}; kinds: {', '.join(k.name for k in KIND_TABLE)}")


def markdown_table() -> str:
    """The kinds as the Markdown table the READMEs carry (a test keeps them equal)."""
    rows = [
        "| kind | hook | built-ins from | factories return | what |",
        "| --- | --- | --- | --- | --- |",
    ]
    for k in KIND_TABLE:
        hook = f"`{k.hook}(cli)`" if not k.factories else f"`{k.hook}`"
        protocol = k.protocol.replace(":", ".")
        rows.append(f"| `{k.name}` | {hook} | {k.provider} | `{protocol}` | {k.description} |")
    return "\n".join(rows) + "\n"
