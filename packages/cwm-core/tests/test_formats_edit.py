import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cwm.core.formats.edit import (
    CreateFile,
    EditBlock,
    EditError,
    apply_edit,
    parse_create,
    parse_edit,
    render_create,
    render_edit,
    snippet,
)

MARKERS = ("<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE")
body = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60).filter(
    lambda s: not any(m in s for m in MARKERS)
)
path = st.from_regex(r"[a-z_/]{1,12}\.py", fullmatch=True)


@given(path, body.filter(bool), body)
def test_edit_round_trip(p, search, replace):
    block = EditBlock(p, search, replace)
    assert parse_edit(render_edit(block)) == block


@given(path, body)
def test_create_round_trip(p, content):
    assert parse_create(render_create(CreateFile(p, content))) == CreateFile(p, content)


@given(st.lists(st.text("ab =()", max_size=6), min_size=1, max_size=8), st.data())
def test_apply_edit_replaces_the_unique_line_aligned_match(lines, data):
    text = "\n".join(lines)
    i = data.draw(st.integers(0, len(lines) - 1))
    j = data.draw(st.integers(i, len(lines) - 1))
    search = "\n".join(lines[i : j + 1])
    hits = len(re.findall(f"(?=\n{re.escape(search)})", "\n" + text))  # overlapping, line-aligned
    assume(search and hits == 1)
    new, line = apply_edit(text, search, "NEW")
    assert new == "\n".join([*lines[:i], "NEW", *lines[j + 1 :]])
    assert line == i + 1


def test_apply_edit_errors():
    with pytest.raises(EditError, match="do not appear"):
        apply_edit("a = 1\n", "b = 1", "c")
    with pytest.raises(EditError, match="indentation"):
        apply_edit("    a = 1\n", "a = 1", "c")  # must start at a line start
    with pytest.raises(EditError, match="occur 2 times \\(lines \\[1, 3\\]\\)"):
        apply_edit("x = 1\ny\nx = 1\n", "x = 1", "x = 2")


def test_edit_and_snippet():
    text = "def f():\n    return 1\n"
    new, line = apply_edit(text, "    return 1", "    return 2")
    assert new == "def f():\n    return 2\n" and line == 2
    assert snippet(new, line, 1, context=1) == "     1\tdef f():\n     2\t    return 2\n     3\t"


@pytest.mark.parametrize(
    "text, match",
    [
        ("a.py\nno markers", "expects a path line"),
        (
            "a.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\nb.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE",
            "one SEARCH/REPLACE block",
        ),
        ("\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE", "file path"),
        ("a.py\n<<<<<<< SEARCH\n\n=======\ny\n>>>>>>> REPLACE", "SEARCH part is empty"),
    ],
)
def test_malformed_edit(text, match):
    with pytest.raises(EditError, match=match):
        parse_edit(text)
