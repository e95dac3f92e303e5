"""The plugin module named by the ``cwm`` entry point: one environment and one reward.

Keep it cheap to import (``cwm --help`` imports every plugin module): the factories
import their modules when called.
"""

from __future__ import annotations

from typing import Any

from cwm.core.plugins import hookimpl


def arithmetic(**options: Any) -> Any:
    from cwm_env_example.arithmetic import Arithmetic

    return Arithmetic(**options)


def closeness(**options: Any) -> Any:
    from cwm_env_example.arithmetic import Closeness

    return Closeness(**options)


@hookimpl
def register_environments() -> dict[str, Any]:
    # name -> factory; `registry("environment").create("arithmetic", op="*")` calls it
    return {"arithmetic": arithmetic}


@hookimpl
def register_rewards() -> dict[str, Any]:
    return {"closeness": closeness}
