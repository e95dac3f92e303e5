"""What plugin factories return, for the kinds whose code lives outside cwm-core.

Small structural Protocols: a built-in or a third-party object satisfies one by
having the methods, without inheriting from anything. The kinds whose code is in
cwm-core keep their Protocol beside it (`cwm.core.attention.AttentionBackend`,
`cwm.core.envs.Environment`, `cwm.core.envs.Reward`). `cwm.core.plugins.kinds`
ties each kind to its Protocol.
"""

from cwm.core.protocols.corpus import Corpus, TraceTaskLike
from cwm.core.protocols.hardware import HardwareBackend
from cwm.core.protocols.logger import Logger
from cwm.core.protocols.mutator import MutationLike, Mutator
from cwm.core.protocols.policy_loss import PolicyLoss
from cwm.core.protocols.sandbox import ExecResultLike, Sandbox, SandboxBackend
from cwm.core.protocols.tracer import Tracer

__all__ = [
    "Corpus",
    "ExecResultLike",
    "HardwareBackend",
    "Logger",
    "MutationLike",
    "Mutator",
    "PolicyLoss",
    "Sandbox",
    "SandboxBackend",
    "TraceTaskLike",
    "Tracer",
]
