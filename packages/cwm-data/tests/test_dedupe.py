"""Near-duplicate trajectories of one task are dropped; different tasks never collide."""

from __future__ import annotations

from cwm.core.schemas import Message, Task, Trajectory, Turn
from cwm.data.forager.dedupe import Deduper


def traj(task_id: str, *actions: str) -> Trajectory:
    obs = Message(role="user", content="ok")
    turns = [Turn(action=a, tool_call=None, observation=obs) for a in actions]
    return Trajectory(
        id=f"{task_id}-{len(actions)}",
        task=Task(id=task_id, instruction="x"),
        prompt=[],
        turns=turns,
    )


def test_near_duplicates_are_dropped() -> None:
    d = Deduper(threshold=0.9)
    steps = [f"<tool: bash>\npython -m pytest tests/test_{i}.py -q\n</tool>" for i in range(30)]
    assert d.add(traj("a", *steps))
    assert not d.add(traj("a", *[s.replace("  ", " ") for s in steps]))  # whitespace only
    assert not d.add(traj("a", *steps[:-1], steps[-1] + " # one more word"))
    assert d.add(traj("a", *reversed(steps[:10]), "a different approach entirely with other words"))
    assert d.add(traj("b", *steps))  # same actions, another task
