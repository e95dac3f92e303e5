"""The kinds table is the one declaration: hooks, registries, `cwm plugins`, the typed
`registry` overloads and the README tables all agree with it."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.core.errors import CwmError
from cwm.core.plugins import KIND_TABLE, KINDS, hookspecs, kind, plugins, registry
from cwm.core.plugins.registries import PROVIDERS

REPO = Path(__file__).resolve().parents[3]
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def test_every_kind_has_exactly_one_hookspec_and_nothing_else_does():
    specs = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "cwm_spec")}
    assert specs == {k.hook for k in KIND_TABLE}
    assert set(plugins().pm.hook.__dict__) >= specs


def test_hooks_providers_and_registries_come_from_the_table():
    with_factories = [k for k in KIND_TABLE if k.factories]
    assert list(KINDS) == [k.name for k in with_factories]
    assert {k.name: k.hook for k in with_factories} == hookspecs.KIND_HOOKS
    assert {k.name: k.provider for k in KIND_TABLE} == PROVIDERS
    for k in with_factories:
        assert registry(k) is registry(k.name)
        assert registry(k).kind is k


def test_command_has_no_registry_and_unknown_kinds_list_the_kinds():
    with pytest.raises(CwmError, match="'command' has no registry"):
        registry("command")
    with pytest.raises(CwmError, match="unknown plugin kind 'widget'; kinds: command, tracer"):
        kind("widget")


def test_every_kinds_protocol_is_a_protocol():
    for k in KIND_TABLE:
        if k.name == "attention" and not HAVE_TORCH:
            continue
        cls = k.load_protocol()
        assert inspect.isclass(cls), k.name
        if k.name != "command":  # click.Command is a class its commands derive from
            assert getattr(cls, "_is_protocol", False), f"{k.protocol} is not a Protocol"


def test_registry_overloads_name_each_kinds_protocol():
    """`registry("tracer")` is a `Registry[Tracer]` to a type checker."""
    typed = {}
    for overload in typing.get_overloads(registry):
        kind_hint, returns = overload.__annotations__["kind"], overload.__annotations__["return"]
        if literal := re.fullmatch(r"Literal\[['\"](\w+)['\"]\]", kind_hint):
            typed[literal[1]] = returns
    assert typed == {
        k.name: f"Registry[{k.protocol.partition(':')[2]}]" for k in KIND_TABLE if k.factories
    }


def test_cwm_plugins_lists_kinds_in_table_order_and_the_kinds_themselves():
    out = CliRunner().invoke(build_cli(), ["plugins", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)["plugins"]
    order = [k.name for k in KIND_TABLE]
    listed = [r["kind"] for r in rows]
    assert listed == sorted(listed, key=order.index)
    for k in KIND_TABLE:
        if k.factories:
            mine = [(r["name"], r["package"]) for r in rows if r["kind"] == k.name]
            assert mine == [(e.name, e.package) for e in registry(k).entries()]
    assert {"plugins", "tokenizer", "model", "convert"} <= {
        r["name"] for r in rows if r["kind"] == "command"
    }
    out = CliRunner().invoke(build_cli(), ["plugins", "--kinds", "--json"])
    listed = {r.pop("kind"): r for r in json.loads(out.output)["kinds"]}
    assert list(listed) == order
    for k in KIND_TABLE:
        assert listed[k.name] == {
            "hook": k.hook,
            "provider": k.provider,
            "protocol": k.protocol,
            "description": k.description,
        }


@pytest.mark.parametrize(
    "readme", ["README.md", "packages/cwm-core/README.md", "docs/architecture.md"]
)
def test_the_readme_kind_tables_are_the_table(readme):
    from cwm.core.plugins.kinds import markdown_table

    text = (REPO / readme).read_text()
    assert markdown_table() in text, f"{readme}: paste `cwm plugins --kinds --markdown`"
