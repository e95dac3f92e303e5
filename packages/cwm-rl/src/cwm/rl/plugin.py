"""cwm-rl's built-in plugins, registered through the ``cwm`` entry point like any other.

Hook implementations (``@hookimpl def register_...``) are added here as the
package's capabilities land; see cwm.core.plugins.hookspecs for the hooks.
Imports stay inside the factories so that loading plugins is cheap.
"""

from __future__ import annotations

from typing import Any

from cwm.core.plugins import hookimpl
from cwm.core.plugins.hookspecs import Factories

# --- rewards (issue 7) ----------------------------------------------------------------------


def _reward(name: str) -> Any:
    def factory(**options: Any) -> Any:
        from cwm.rl import rewards

        return getattr(rewards, name)(**options)

    factory.__name__ = f"reward_{name}"
    return factory


@hookimpl
def register_rewards() -> Factories:
    return {
        "hidden-tests": _reward("HiddenTests"),
        "patch-similarity": _reward("PatchSimilarity"),
        "format": _reward("FormatPenalty"),
        "compose": _reward("compose"),
        "swe": _reward("swe"),
    }


# its own hook function (pluggy's specname), so other reward registrations sit beside it
@hookimpl(specname="register_rewards")
def register_outcome_rewards() -> Factories:
    return {
        "code-tests": _reward("PassReward"),
        "math": _reward("PassReward"),
        "swe-testgen": _reward("PassReward"),
    }


# --- end of issue 7 -------------------------------------------------------------------------

# --- environments: code-tests, math, swe, swe-testgen ---------------------------------------


def _env(module: str, factory: str) -> Any:
    def make(**options: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(f"cwm.rl.envs.{module}"), factory)(**options)

    make.__name__ = f"environment_{factory}"
    return make


# its own hook function (pluggy's specname), so other environment registrations sit beside it
@hookimpl(specname="register_environments")
def register_task_environments() -> Factories:
    return {
        "code-tests": _env("code_tests", "code_tests"),
        "math": _env("math_answers", "math_env"),
        "swe": _env("swe", "swe_env"),
        "swe-testgen": _env("swe_testgen", "swe_testgen"),
    }
