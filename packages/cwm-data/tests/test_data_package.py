"""The package installs, registers through the cwm entry point, and imports only what it may."""

import json
import subprocess
import sys
from importlib.metadata import entry_points

from cwm.core.testing import cwm_packages_loaded_by, modules_loaded_by


def test_registered_in_the_cwm_entry_point_group():
    names = {ep.value for ep in entry_points(group="cwm") if ep.dist and ep.dist.name == "cwm-data"}
    assert names == {"cwm.data.plugin"}


def test_imports_follow_the_dependency_direction():
    assert cwm_packages_loaded_by("cwm.data") <= {"cwm.core", "cwm.data"}


def test_works_without_torch():
    """cwm-data depends on cwm-core without its torch extra."""
    assert "torch" not in modules_loaded_by("cwm.data")


TRACING = ("cwm.data.trace", "cwm.data.corpora", "cwm.data.dataset")
AGENTIC = ("cwm.data.sandbox", "cwm.data.envs", "cwm.data.forager")
_HALF_PROBE = """
import importlib, json, pkgutil, sys
for name in sys.argv[1:]:
    root = importlib.import_module(name)
    for info in pkgutil.walk_packages(root.__path__, name + "."):
        importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by_half(half: tuple[str, ...]) -> set[str]:
    """Every module loaded by importing all modules of ``half`` in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", _HALF_PROBE, *half], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def test_the_two_halves_do_not_import_each_other():
    tracing, agentic = loaded_by_half(TRACING), loaded_by_half(AGENTIC)
    assert not {m for m in tracing if m.startswith(AGENTIC)}
    assert not {m for m in agentic if m.startswith(TRACING)}
    # what the agentic extra installs stays out of tracing
    assert not {m.split(".")[0] for m in tracing} & {"docker", "packaging", "pip"}


def test_without_the_agentic_extra_sandboxes_say_which_extra_to_install():
    # `cwm sandbox ls` in an interpreter where the extra's modules cannot be found
    # (the nox session data_without_agentic checks a real install without them)
    hide = (
        "import importlib.util, sys; real = importlib.util.find_spec; "
        "importlib.util.find_spec = lambda n, *a: None if n in ('docker', 'packaging', 'pip') "
        "else real(n, *a); from cwm.core.cli import main; main(sys.argv[1:])"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide, "sandbox", "ls"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: sandboxes (cwm sandbox, cwm forage, the swe environment) need cwm-data's "
        "agentic extra (docker, packaging, pip missing): pip install 'cwm-data[agentic]'"
    ]
