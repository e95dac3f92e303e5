"""Sandboxes: places to run a repository's code, with a persistent bash session.

    from cwm.data.sandbox import open_backend
    backend = open_backend("auto")           # docker when an engine runs, else local
    image = backend.build_repo_image(prepare_repo("toolz==1.2.0"))
    with backend.start(image) as box:
        box.session.run("cd toolz && ls")
        box.session.run("pwd")               # still in toolz/

Backends are plugins of kind ``sandbox`` (``docker``, ``local``).
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

from cwm.data.agentic_extra import require_agentic

# before any import of docker, packaging or pip: one line that names the extra instead
require_agentic("sandboxes (cwm sandbox, cwm forage, the swe environment)")

from cwm.data.sandbox.base import Channel, ExecResult, Sandbox, SandboxBackend  # noqa: E402
from cwm.data.sandbox.repo import PreparedRepo, cache_dir, prepare_repo  # noqa: E402

__all__ = [
    "Channel",
    "ExecResult",
    "PreparedRepo",
    "Sandbox",
    "SandboxBackend",
    "cache_dir",
    "open_backend",
    "prepare_repo",
]


def open_backend(name: str = "auto", **options: Any) -> SandboxBackend:
    """The sandbox backend plugin ``name``; ``auto`` is docker when an engine runs, else local
    (with a warning, once: model-written commands then run on this machine)."""
    from cwm.core.plugins import registry

    if name == "auto":
        from cwm.data.sandbox.engine import engine_running

        name = "docker" if engine_running() else "local"
        if name == "local":
            _warn_local_once()
    return registry("sandbox").create(name, **options)


@cache
def _warn_local_once() -> None:
    warnings.warn(
        "sandbox=auto: no Docker engine answers, so commands run on this machine in a "
        "temporary directory (the local sandbox); start Docker, or set sandbox=local to "
        "choose this knowingly",
        RuntimeWarning,
        stacklevel=3,
    )
