import pytest
from hypothesis import given
from strategies import tool_calls, tool_free_text

from cwm.core.formats.tools import (
    EmptyToolCall,
    MismatchedToolTags,
    MultipleToolCalls,
    NoToolCall,
    parse_tool_call,
    render_tool_call,
    split_tool_call,
)
from cwm.core.schemas import ToolCall


@given(tool_calls, tool_free_text, tool_free_text)
def test_round_trip(call, before, after):
    text = render_tool_call(call, before=before, after=after)
    assert split_tool_call(text) == (before, call, after)


def test_cwm_layout():
    assert render_tool_call(ToolCall("bash", "ls -la")) == "<tool: bash>\nls -la\n</tool>"
    assert parse_tool_call("I will look.\n<tool: bash>\nls\n</tool>") == ToolCall("bash", "ls")


@pytest.mark.parametrize(
    "reply, error",
    [
        ("I am done.", NoToolCall),
        ("<tool: bash>\nls\n", MismatchedToolTags),
        ("ls\n</tool>", MismatchedToolTags),
        ("<tool:bash>\nls\n</tool>", MismatchedToolTags),
        ("<tool: bash>ls</tool>", MismatchedToolTags),
        ("<tool: bash>\nls\n</tool>\n<tool: edit>\nx\n</tool>", MultipleToolCalls),
        ("<tool: bash>\n  \n</tool>", EmptyToolCall),
    ],
)
def test_each_mistake_has_its_own_error(reply, error):
    with pytest.raises(error):
        parse_tool_call(reply)
