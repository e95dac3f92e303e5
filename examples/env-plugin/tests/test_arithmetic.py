from cwm.core.envs import Action, Environment, Rollout
from cwm.core.plugins import registry


def play(env, row, replies=None):
    state, first = env.start(row)
    rollout = Rollout(row_id=row["id"], prompt=first.observation)
    for tokens in replies or env.reference(state):
        rollout.add(Action(tokens=tokens), env.step(state, tokens))
    state.close()
    return rollout


def test_the_environment_and_reward_are_registered_by_name():
    env = registry("environment").create("arithmetic", op="*")
    assert isinstance(env, Environment)
    assert registry("environment").package_of("arithmetic") == "cwm-env-example"
    reward = registry("reward").create("closeness")
    rollout = play(env, {"id": "m", "a": 6, "b": 7})
    assert rollout.done and rollout.outcomes["pass"] and reward(rollout) == 1.0


def test_a_near_miss_earns_part_and_garbage_nothing():
    env = registry("environment").create("arithmetic")
    reward = registry("reward").create("closeness")
    row = {"id": "a", "a": 2, "b": 3}
    near = play(env, row, [env.tok.encode("It is 6.")])
    assert near.outcomes["pass"] is False and reward(near) == 0.5
    garbage = play(env, row, [[999_999, 5]])  # ids past the vocabulary too
    assert garbage.outcomes["answered"] is False and reward(garbage) == 0.0
