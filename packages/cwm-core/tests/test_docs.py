"""docs/architecture.md agrees with the code, the README points to it, and the repository's
text refers to nothing outside it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from cwm.core.tokenizer import Tokenizer, specials

REPO = Path(__file__).resolve().parents[3]
ARCHITECTURE = REPO / "docs" / "architecture.md"

TOKEN_ROW = re.compile(r"^\| `(<\\\|\w+\\\|>)` \| (\d+) \| (\d+) \| (\d+) \|$", re.M)


def test_the_special_token_table_gives_the_tokenizers_ids():
    rows = TOKEN_ROW.findall(ARCHITECTURE.read_text())
    assert [r[0].replace("\\|", "|") for r in rows] == list(specials.NAMED_OFFSETS)
    cwm_ids, embedded = specials.special_tokens(128_000), Tokenizer()
    for name, offset, cwm_id, embedded_id in rows:
        name = name.replace("\\|", "|")
        assert int(offset) == specials.NAMED_OFFSETS[name]
        assert int(cwm_id) == cwm_ids[name], name
        assert int(embedded_id) == embedded.token_id(name), name


def test_the_readme_links_the_architecture():
    assert "(docs/architecture.md)" in (REPO / "README.md").read_text()


def tracked_text_files() -> list[Path]:
    try:
        done = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    except OSError:
        pytest.skip("git is not installed")
    if done.returncode != 0:
        pytest.skip("not a git checkout")
    listed = done.stdout.split()
    keep = (".py", ".md", ".toml", ".txt", ".cfg", ".yml", ".yaml")
    return [REPO / p for p in listed if p.endswith(keep) and (REPO / p).is_file()]


def test_no_work_item_markers_or_references_to_files_outside_the_repository():
    marker = re.compile(r"\bissue[ -]\d+\b|BEGIN issue|END issue|DESIGN\.md", re.I)
    found = [
        f"{p.relative_to(REPO)}:{i}: {line.strip()}"
        for p in tracked_text_files()
        if p != Path(__file__).resolve()  # the pattern above would match itself
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if marker.search(line)
    ]
    assert not found, "say it without the marker:\n" + "\n".join(found)


def test_the_readme_names_every_plugin_cwm_core_registers():
    from click.testing import CliRunner

    from cwm.core.cli import build_cli

    text = (REPO / "packages" / "cwm-core" / "README.md").read_text()
    section = text.split("## Plugins cwm-core registers", 1)[1].split("\n## ", 1)[0]
    documented = {
        row.split("|")[1].strip(): set(re.findall(r"`([\w-]+)`", row.split("|")[2]))
        for row in section.splitlines()
        if row.startswith("| ") and not row.startswith(("| kind", "| ---"))
    }
    out = CliRunner().invoke(build_cli(), ["plugins", "--json"])
    installed: dict[str, set[str]] = {}
    for row in json.loads(out.output)["plugins"]:
        if row["package"] == "cwm-core":
            installed.setdefault(row["kind"], set()).add(row["name"])
    assert documented == installed
