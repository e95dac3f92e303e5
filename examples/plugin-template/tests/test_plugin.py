from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.core.plugins import registry


def test_reward_is_registered_by_name():
    reward = registry("reward").create("short-answer", target=10)
    assert reward("x" * 5) == 1.0 and reward("x" * 20) == 0.5
    assert registry("reward").package_of("short-answer") == "cwm-plugin-template"


def test_command_is_added_to_cwm():
    result = CliRunner().invoke(build_cli(), ["template-hello", "CWM"])
    assert result.output == "hello, CWM, from cwm-plugin-template\n"
