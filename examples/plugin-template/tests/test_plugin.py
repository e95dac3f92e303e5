from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.core.plugins import registry
from cwm.core.schemas import Message, Task, Trajectory, Turn


def trajectory(turns: int) -> Trajectory:
    turn = Turn(action="...", tool_call=None, observation=Message(role="user", content="..."))
    return Trajectory(
        id="t", task=Task(id="t", instruction="fix it"), prompt=[], turns=[turn] * turns
    )


def test_reward_is_registered_by_name():
    reward = registry("reward").create("few-turns", target=4)
    assert reward(trajectory(2)) == 1.0 and reward(trajectory(8)) == 0.5
    assert registry("reward").package_of("few-turns") == "cwm-plugin-template"


def test_command_is_added_to_cwm():
    result = CliRunner().invoke(build_cli(), ["template-hello", "CWM"])
    assert result.output == "hello, CWM, from cwm-plugin-template\n"
