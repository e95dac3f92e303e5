"""docs/architecture.md agrees with the code, the README points to it, and the repository's
text refers to nothing outside it."""

from __future__ import annotations

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
