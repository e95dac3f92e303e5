"""Hypothesis strategies for CWM records and format inputs."""

from __future__ import annotations

from hypothesis import strategies as st

from cwm.core.formats.pieces import has_special
from cwm.core.formats.trace import START_MARKER
from cwm.core.schemas import (
    UNCHANGED,
    CallFrame,
    ExceptionFrame,
    LineFrame,
    Message,
    ReturnFrame,
    ToolCall,
)
from cwm.core.tokenizer import specials as sp

SPECIAL_NAMES = sorted(sp.special_tokens(0))


def texts(
    *, specials: bool = False, newlines: bool = True, min_size: int = 0
) -> st.SearchStrategy[str]:
    """Text; with ``specials``, special-token strings are mixed in (legal only as token ids)."""
    alphabet = st.characters(
        blacklist_categories=("Cs",), blacklist_characters="" if newlines else "\n\r"
    )
    base = st.text(alphabet, min_size=min_size, max_size=40)
    if specials:
        parts = st.lists(st.one_of(base, st.sampled_from(SPECIAL_NAMES)), max_size=4)
        return parts.map("".join).filter(lambda s: len(s) >= min_size)
    return base.filter(lambda s: not has_special(s))


def messages(*, specials: bool = False) -> st.SearchStrategy[Message]:
    plain = st.builds(
        Message,
        role=st.sampled_from(["system", "user", "assistant"]),
        content=texts(specials=specials),
    )
    tool = st.builds(
        Message,
        role=st.just("tool"),
        content=texts(specials=specials),
        tool=texts(specials=specials, newlines=False, min_size=1),
    )
    return st.one_of(plain, tool)


def _locals(specials: bool) -> st.SearchStrategy[dict[str, str]]:
    value = texts(specials=specials).filter(lambda v: v != UNCHANGED)
    return st.dictionaries(st.sampled_from(["x", "n", "acc", "self", "é", "i"]), value, max_size=4)


def frames(*, specials: bool = False) -> st.SearchStrategy[list]:
    line = texts(specials=specials, newlines=False)
    value = texts(specials=specials)
    one = st.one_of(
        st.builds(CallFrame, line=line, locals=_locals(specials)),
        st.builds(LineFrame, line=line, locals=_locals(specials)),
        st.builds(ReturnFrame, line=line, value=value),
        st.builds(ExceptionFrame, line=line, value=value),
    )
    # repeat states often, so the ".." shorthand is exercised
    return st.lists(one, max_size=12)


@st.composite
def sources(draw: st.DrawFn, *, specials: bool = False) -> tuple[str, int]:
    lines = draw(
        st.lists(texts(specials=specials, newlines=False), min_size=1, max_size=6).filter(
            lambda ls: not any(line.endswith(START_MARKER) for line in ls)
        )
    )
    return "\n".join(lines), draw(st.integers(1, len(lines)))


tool_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,12}", fullmatch=True)
tool_free_text = texts().filter(lambda s: "<tool:" not in s and "</tool>" not in s)
tool_calls = st.builds(ToolCall, tool_names, tool_free_text.filter(lambda s: s.strip() != ""))
