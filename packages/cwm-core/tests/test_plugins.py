import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cwm.core.errors import CwmError
from cwm.core.plugins import (
    Registry,
    UnknownPluginError,
    hookimpl,
    register_plugin,
    registry,
    unregister_plugin,
)
from cwm.core.plugins.manager import load_plugins
from cwm.core.plugins.registries import PROVIDERS

REPO = Path(__file__).resolve().parents[3]
CWM = [sys.executable, "-c", "from cwm.core.cli import main; main()"]


class Rewards:
    @hookimpl
    def register_rewards(self):
        return {"always-one": lambda: lambda *_: 1.0, "always-zero": lambda: lambda *_: 0.0}


class Scaled:
    def __init__(self, scale: float = 1.0, *, clip: bool = False):
        if scale < 0:
            raise TypeError("a TypeError of the factory's own")
        self.scale, self.clip = scale, clip


class Typed:
    @hookimpl
    def register_rewards(self):
        return {"scaled": Scaled}


class Clash:
    @hookimpl
    def register_rewards(self):
        return {"always-one": lambda: None}


@pytest.fixture
def local_rewards():
    name = register_plugin(Rewards(), name="test-rewards")
    yield
    unregister_plugin(name)


def test_in_process_plugin_is_resolved_by_name(local_rewards):
    assert registry("reward").create("always-one")("anything") == 1.0
    assert registry("reward").package_of("always-zero") == "<local>"


def test_unknown_name_lists_the_known_ones(local_rewards):
    with pytest.raises(UnknownPluginError) as exc:
        registry("reward").get("always-two")
    assert "unknown reward 'always-two'; installed: " in str(exc.value)
    assert "always-one, always-zero" in str(exc.value)


def test_options_are_checked_against_the_factory_and_converted_from_text():
    name = register_plugin(Typed(), name="test-typed")
    try:
        made = registry("reward").create("scaled", scale="2.5", clip="true")  # --set gives text
        assert (made.scale, made.clip) == (2.5, True)
        with pytest.raises(CwmError, match=r"reward 'scaled'.*'bogus'.*scale=1\.0, clip=False"):
            registry("reward").create("scaled", bogus=1)
        with pytest.raises(CwmError, match=r"reward 'scaled': option scale='lots'"):
            registry("reward").create("scaled", scale="lots")
        with pytest.raises(TypeError, match="of the factory's own"):  # not a binding error
            registry("reward").create("scaled", scale=-1.0)
    finally:
        unregister_plugin(name)


def test_empty_registry_says_what_to_install(monkeypatch):
    empty = Registry.collect("tracer", load_plugins(group="cwm-no-such-group"))
    monkeypatch.setitem(PROVIDERS, "tracer", "cwm-no-such-package")
    with pytest.raises(
        UnknownPluginError,
        match="no tracer plugins are installed \\(install cwm-no-such-package\\)",
    ):
        empty.get("settrace")


def test_empty_registry_of_an_installed_provider_asks_for_a_plugin():
    """cwm-core provides the logger kind but no logger yet."""
    empty = Registry.collect("logger", load_plugins(group="cwm-no-such-group"))
    with pytest.raises(UnknownPluginError, match="cwm-core brings none yet: install a plugin"):
        empty.get("jsonl")


def test_two_plugins_with_one_name_is_an_error(local_rewards):
    register_plugin(Clash(), name="clash")
    try:
        with pytest.raises(CwmError, match="reward 'always-one' is registered twice"):
            registry("reward")
    finally:
        unregister_plugin("clash")


def test_unknown_kind():
    with pytest.raises(CwmError, match="unknown plugin kind 'widget'"):
        registry("widget")


def install(target: Path, project: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to build and install the template plugin")
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(project)],
        check=True,
        capture_output=True,
    )


def run_cwm(args, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([*CWM, *args], capture_output=True, text=True, env=env, timeout=60)


def test_template_plugin_installed_through_entry_points(tmp_path):
    install(tmp_path, REPO / "examples" / "plugin-template")
    listed = run_cwm(["plugins", "--json"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["plugins"]
    assert {"kind": "reward", "name": "few-turns", "package": "cwm-plugin-template"} in rows
    assert {"kind": "command", "name": "template-hello", "package": "cwm-plugin-template"} in rows
    assert (
        run_cwm(["template-hello", "you"], tmp_path).stdout
        == "hello, you, from cwm-plugin-template\n"
    )
    code = (
        "from cwm.core.plugins import registry; print(registry('reward').package_of('few-turns'))"
    )
    resolved = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert resolved.stdout.strip() == "cwm-plugin-template"
    # the template's own tests pass against the installed cwm-core
    own = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(REPO / "examples" / "plugin-template" / "tests"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert own.returncode == 0, own.stdout + own.stderr


def test_a_broken_plugin_is_reported_not_fatal(tmp_path):
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('missing dependency foo')\n")
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[cwm]\nbroken = broken_plugin\n")
    result = run_cwm(["plugins"], tmp_path)
    assert result.returncode == 0
    assert (
        "plugin 'broken' from broken-plugin failed to load: missing dependency foo" in result.stderr
    )
    assert "tokenizer" in result.stdout
