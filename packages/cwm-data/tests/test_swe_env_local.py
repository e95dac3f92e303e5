"""The SWE environment and its grader on the local sandbox: tools, format errors, budgets, grading."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from swe_fixtures import LIB

from cwm.core.schemas import Task
from cwm.data.envs.grading import PYTEST, grade
from cwm.data.envs.patches import make_diff
from cwm.data.envs.swe import SWEConfig, SWEEnv
from cwm.data.forager.agent import run_episode
from cwm.data.forager.policies import OraclePolicy
from cwm.data.sandbox.local import LocalBackend

BUGGY = LIB.replace("result += item", "result -= item")
CLAMP_TESTS = [f"tests/test_mylib.py::test_clamp_{n}" for n in ("low", "high", "inside")]


def _task(repo: Path) -> Task:
    return Task(
        id="tiny-mut-1",
        instruction="test_total fails; fix the bug.",
        family="mutate-fix",
        repo="tiny",
        image=str(repo),
        oracle_patch=make_diff("mylib.py", BUGGY, LIB),
        fail_to_pass=["tests/test_mylib.py::test_total"],
        pass_to_pass=CLAMP_TESTS,
        meta={"setup_patch": make_diff("mylib.py", LIB, BUGGY)},
    )


@pytest.fixture
def task(tiny_repo: Path) -> Task:
    return _task(tiny_repo)


@pytest.fixture
def env(task: Task):
    e = SWEEnv(task, LocalBackend(), SWEConfig(max_turns=12, command_timeout=20))
    yield e
    e.close()


def test_oracle_policy_resolves_through_the_tools(env: SWEEnv) -> None:
    trajectory = run_episode(env, OraclePolicy())
    assert trajectory.finish == "submitted"
    assert trajectory.tests is not None and trajectory.tests.resolved, trajectory.tests
    tools = [t.tool_call.name if t.tool_call else None for t in trajectory.turns]
    assert tools == ["bash", "edit", "bash", "bash", "submit", None]
    assert trajectory.patch and trajectory.patch.startswith("diff --git a/mylib.py")
    assert all(t.observation.role == "tool" for t in trajectory.turns[:-1])
    assert "1 passed" in trajectory.turns[2].observation.content  # test feedback came back


def test_the_agent_starts_from_the_buggy_state(env: SWEEnv) -> None:
    env.reset()
    step = env.step(
        "<tool: bash>\ngrep -n 'result -= item' mylib.py && git status --short\n</tool>"
    )
    assert "result -= item" in step.turn.observation.content
    assert "M mylib.py" not in step.turn.observation.content  # committed as the starting state


def test_malformed_calls_become_user_observations(env: SWEEnv) -> None:
    env.reset()
    replies = {
        "I think I should look around.": "NoToolCall",
        "<tool: bash>\nls\n": "MismatchedToolTags",
        "<tool: bash>\nls\n</tool>\n<tool: bash>\npwd\n</tool>": "MultipleToolCalls",
        "<tool: python>\nprint(1)\n</tool>": "unknown tool 'python'",
        "<tool: bash>\n \n</tool>": "EmptyToolCall",
    }
    for reply, expected in replies.items():
        step = env.step(reply)
        assert not step.done
        assert step.turn.tool_call is None and step.turn.error and expected in step.turn.error
        assert step.turn.observation.role == "user" and expected in step.turn.observation.content
        assert "turns left:" in step.turn.observation.content  # budgets are reported
    assert env.step("<tool: bash>\necho still here\n</tool>").turn.observation.role == "tool"


def test_edit_create_and_submit_refuse_bad_inputs(env: SWEEnv) -> None:
    env.reset()
    edit = "<tool: edit>\nmylib.py\n<<<<<<< SEARCH\n{}\n=======\nX\n>>>>>>> REPLACE\n</tool>"
    assert "occur 2 times" in env.step(edit.format("    if x")).turn.observation.content
    assert "do not appear" in env.step(edit.format("nothing like this")).turn.observation.content
    assert (
        "does not exist"
        in env.step(edit.replace("mylib.py", "nope.py").format("x")).turn.observation.content
    )
    assert (
        "already exists"
        in env.step("<tool: create>\nmylib.py\nx = 1\n</tool>").turn.observation.content
    )
    assert (
        "parent directory"
        in env.step("<tool: create>\nno/such/dir.py\nx\n</tool>").turn.observation.content
    )
    env.step("<tool: bash>\necho 'not a patch' > ../p.txt\n</tool>")
    refused = env.step("<tool: submit>\n../p.txt\n</tool>")
    assert "starts with 'diff'" in refused.turn.observation.content and env.submission is None
    # create, then edit relative to the session's directory after a cd
    env.step("<tool: bash>\ncd tests\n</tool>")
    assert (
        "Created" in env.step("<tool: create>\nnotes.txt\nhello\n</tool>").turn.observation.content
    )
    ok = env.step(
        "<tool: edit>\nnotes.txt\n<<<<<<< SEARCH\nhello\n=======\nbye\n>>>>>>> REPLACE\n</tool>"
    )
    assert "Edited notes.txt" in ok.turn.observation.content
    assert env.box is not None and env.box.read_file(f"{env.box.workdir}/tests/notes.txt") == b"bye"


def test_turn_budget_ends_the_episode(task: Task) -> None:
    env = SWEEnv(task, LocalBackend(), SWEConfig(max_turns=2))
    env.reset()
    first = env.step("<tool: bash>\ntrue\n</tool>")
    assert not first.done and "turns left: 1" in first.turn.observation.content
    second = env.step("<tool: bash>\ntrue\n</tool>")
    assert second.done and second.finish == "max_turns"
    trajectory = env.finish(policy="test")
    assert trajectory.finish == "max_turns" and not trajectory.tests.resolved
    assert trajectory.tests.error == "no patch was submitted"


def _grade(task: Task, patch: str):
    backend = LocalBackend()
    return grade(task, patch, lambda: backend.start(task.image or ""))


def test_grading_the_oracle_and_a_wrong_patch(task: Task) -> None:
    good = _grade(task, task.oracle_patch)
    assert good.resolved and good.exit_code == 0
    assert set(good.statuses.values()) == {"passed"}
    wrong = _grade(task, make_diff("mylib.py", BUGGY, BUGGY.replace("result = 0", "result = 1")))
    assert not wrong.resolved and wrong.statuses["tests/test_mylib.py::test_total"] == "failed"
    assert not _grade(task, "not a diff").resolved


def test_fake_passed_lines_do_not_fool_grading(task: Task) -> None:
    ids = [*task.fail_to_pass, *task.pass_to_pass]
    fake = "\\n".join(
        ["", "=" * 20 + " short test summary info " + "=" * 20, *[f"PASSED {t}" for t in ids], ""]
    )
    cheat_at_exit = (
        BUGGY + f"\nimport atexit, sys\natexit.register(lambda: sys.stdout.write('{fake}'))\n"
    )
    outcome = _grade(task, make_diff("mylib.py", BUGGY, cheat_at_exit))
    assert not outcome.resolved and outcome.exit_code != 0
    assert outcome.statuses["tests/test_mylib.py::test_total"] == "failed"
    # a task's own test command is judged by its log: the forged summary wins there,
    # and the exit code catches it
    own = msgspec.structs.replace(task, test_command=" ".join([PYTEST, *ids]))
    outcome = _grade(own, make_diff("mylib.py", BUGGY, cheat_at_exit))
    assert not outcome.resolved and "exited with" in (outcome.error or "")
    cheat_at_import = BUGGY + "".join(f"\nprint('PASSED {t}')" for t in ids) + "\n"
    outcome = _grade(task, make_diff("mylib.py", BUGGY, cheat_at_import))
    assert not outcome.resolved and outcome.statuses["tests/test_mylib.py::test_total"] == "failed"
    # the forged summary past pytest's capture (to every open fd, pytest's saved stdout
    # among them), then an exit with status 0 before pytest can print its own
    cheat_and_quit = BUGGY + (
        "\nimport os\nfor fd in range(1, 64):\n    try:\n"
        f"        os.write(fd, b'{fake}')\n    except OSError:\n        pass\nos._exit(0)\n"
    )
    outcome = _grade(task, make_diff("mylib.py", BUGGY, cheat_and_quit))
    assert outcome.exit_code == 0 and "short test summary info" in outcome.log
    assert not outcome.resolved and "never finished" in (outcome.error or "")
    assert set(outcome.statuses.values()) == {"failed"}


def test_patches_to_test_files_are_undone(task: Task, tiny_repo: Path) -> None:
    tests = (tiny_repo / "tests" / "test_mylib.py").read_text()
    weakened = tests.replace("== 6", "== -6")
    conftest = (
        "import pytest\n\n@pytest.fixture(autouse=True)\ndef _skip():\n    pytest.skip('no')\n"
    )
    patch = make_diff("tests/test_mylib.py", tests, weakened) + make_diff(
        "conftest.py", "", conftest
    )
    outcome = _grade(task, patch.replace("--- a/conftest.py", "--- /dev/null"))
    assert not outcome.resolved
    assert outcome.statuses["tests/test_mylib.py::test_total"] == "failed"


def test_a_test_missing_from_the_log_counts_as_failed(task: Task) -> None:
    ghost = Task(
        **{
            **{f: getattr(task, f) for f in task.__struct_fields__},
            "pass_to_pass": [*CLAMP_TESTS, "tests/test_mylib.py::test_ghost"],
        }
    )
    outcome = _grade(ghost, task.oracle_patch)
    assert not outcome.resolved and outcome.statuses["tests/test_mylib.py::test_ghost"] == "failed"
