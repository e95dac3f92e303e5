from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.core.envs import Action, Reward, Rollout, Transition
from cwm.core.plugins import registry


def rollout(turns: int) -> Rollout:
    episode = Rollout(row_id="t", prompt=[1, 2, 3])
    for _ in range(turns):
        episode.add(Action(tokens=[4, 5]), Transition(observation=[6]))
    return episode


def test_reward_is_registered_by_name():
    reward = registry("reward").create("few-turns", target=4)
    assert isinstance(reward, Reward)  # the reward kind's Protocol
    assert reward(rollout(2)) == 1.0 and reward(rollout(8)) == 0.5
    assert registry("reward").package_of("few-turns") == "cwm-plugin-template"


def test_command_is_added_to_cwm():
    result = CliRunner().invoke(build_cli(), ["template-hello", "CWM"])
    assert result.output == "hello, CWM, from cwm-plugin-template\n"
