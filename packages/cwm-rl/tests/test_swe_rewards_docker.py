"""SWE rewards end to end, in Docker on a real registry project (inflection from its sdist):
validated mutate-fix tasks, the oracle resolves them through the tools with reward +1, a
wrong but similar patch earns the similarity-shaped reward, and fake PASSED lines fool nothing."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from cwm.core.io import read_records
from cwm.core.plugins import registry
from cwm.core.schemas import Task, Trajectory
from cwm.data.envs.grading import set_up_task
from cwm.data.envs.patches import make_diff
from cwm.data.envs.swe import SWEEnv
from cwm.data.forager.agent import run_episode
from cwm.data.forager.forage import ForageConfig, Forager
from cwm.data.forager.policies import OraclePolicy
from cwm.rl.rewards import mean_similarity

REWARD = {"threshold": 0.5, "scale": 2.0}


class Replay(OraclePolicy):
    """Replays ``patch`` through the tools instead of the task's oracle patch."""

    def __init__(self, patch: str):
        super().__init__()
        self.patch = patch

    def start(self, task: Task) -> None:
        super().start(msgspec.structs.replace(task, oracle_patch=self.patch))


@pytest.fixture(scope="module")
def forager(docker, tmp_path_factory: pytest.TempPathFactory) -> Forager:
    out = tmp_path_factory.mktemp("forage")
    cfg = ForageConfig(
        repo="inflection==0.5.1",
        out=str(out),
        tasks=2,
        sandbox="docker",
        reward="patch-similarity",
        reward_options=REWARD,
    )
    forager = Forager(cfg, progress=False)
    forager.run()
    return forager


def _buggy(forager: Forager, task: Task) -> tuple[str, str]:
    """The mutated file as the agent finds it: (path, text)."""
    with forager.backend.start(forager.image) as box:
        assert set_up_task(box, task) is None
        return task.meta["file"], box.read_file(task.meta["file"]).decode()


def test_tasks_validate_and_the_oracle_earns_plus_one(forager: Forager) -> None:
    tasks = list(read_records(Path(forager.cfg.out) / "tasks.jsonl", Task))
    trajectories = list(read_records(Path(forager.cfg.out) / "trajectories.jsonl", Trajectory))
    assert len(tasks) == 2 and {t.task.id for t in trajectories} == {t.id for t in tasks}
    for t in trajectories:
        assert t.tests is not None and t.tests.resolved and t.tests.exit_code == 0
        assert t.reward == 1.0
        assert [turn.tool_call.name for turn in t.turns if turn.tool_call][-1] == "submit"


def _episode(forager: Forager, task: Task, patch: str) -> Trajectory:
    reward = registry("reward").create("patch-similarity", **REWARD)
    return run_episode(SWEEnv(task, forager.backend), Replay(patch), reward=reward)


def test_a_wrong_but_similar_patch_gets_the_shaped_reward(forager: Forager) -> None:
    task = forager.load_tasks()[0]
    path, buggy = _buggy(forager, task)
    lines = buggy.split("\n")
    lines[task.meta["line"] - 1] += "  # looked at this"  # touches the buggy line, fixes nothing
    wrong = make_diff(path, buggy, "\n".join(lines))
    assert mean_similarity(wrong, task.oracle_patch) >= REWARD["threshold"]
    trajectory = _episode(forager, task, wrong)
    assert trajectory.tests is not None and not trajectory.tests.resolved
    assert trajectory.reward == pytest.approx(-1.0 + REWARD["threshold"] * REWARD["scale"])


def test_fake_passed_lines_do_not_fool_grading(forager: Forager) -> None:
    """The patch prints a fake summary (every test PASSED): after pytest's own at exit, or
    past pytest's capture followed by an exit with status 0 before pytest finishes."""
    task = forager.load_tasks()[0]
    path, buggy = _buggy(forager, task)
    ids = [*task.fail_to_pass, *task.pass_to_pass]
    fake = "\n".join(
        ["", "=" * 10 + " short test summary info " + "=" * 10, *(f"PASSED {t}" for t in ids), ""]
    )
    at_exit = f"\nimport atexit, sys\natexit.register(lambda: sys.stdout.write({fake!r}))\n"
    quit_early = (
        "\nimport os\nfor fd in range(1, 64):\n    try:\n"
        f"        os.write(fd, {fake.encode()!r})\n    except OSError:\n        pass\nos._exit(0)\n"
    )
    for cheat in (at_exit, quit_early):
        trajectory = _episode(forager, task, make_diff(path, buggy, buggy + cheat))
        outcome = trajectory.tests
        assert outcome is not None and not outcome.resolved
        assert any(outcome.statuses[t] != "passed" for t in task.fail_to_pass)
        assert trajectory.reward is not None and trajectory.reward < 1.0
    assert outcome.exit_code == 0 and f"PASSED {ids[-1]}" in outcome.log
    assert "never finished" in (outcome.error or "")
