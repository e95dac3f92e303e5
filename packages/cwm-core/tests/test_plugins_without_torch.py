"""cwm-core's plugin module and model config stay importable without torch."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.core.cli.model import FORMATS
from cwm.core.plugins import registry


def test_importing_the_plugin_config_and_cli_does_not_import_torch() -> None:
    code = (
        "import sys; import cwm.core.plugin, cwm.core.model, cwm.core.cli.model, "
        "cwm.core.cli.convert; from cwm.core.plugins import registry; "
        "registry('attention').names(); print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_attention_backends_are_listed_by_cwm_plugins() -> None:
    assert {"sdpa", "banded", "flex", "flash"} <= set(registry("attention").names())
    out = CliRunner().invoke(build_cli(), ["plugins", "--json"])
    rows = {(r["kind"], r["name"]) for r in __import__("json").loads(out.output)["plugins"]}
    assert {("attention", "sdpa"), ("command", "model"), ("command", "convert")} <= rows


def test_the_cli_names_the_same_formats_as_the_checkpoint_package() -> None:
    import pytest

    pytest.importorskip("torch")
    from cwm.core.checkpoint import FORMATS as checkpoint_formats

    assert checkpoint_formats == FORMATS


def test_model_commands_without_torch_say_what_to_install(tmp_path) -> None:
    import importlib.util

    import pytest

    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed")
    out = CliRunner().invoke(build_cli(), ["model", "init", str(tmp_path / "m")])
    assert out.exit_code == 1
    assert "cwm model init needs torch: pip install 'cwm-core[torch]'" in out.output
    assert not (tmp_path / "m").exists()
