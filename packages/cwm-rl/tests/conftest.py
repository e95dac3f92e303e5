"""Fixtures: Docker for the SWE reward tests, a memorized model for the evaluation tests."""

from __future__ import annotations

import pytest
import torch

from cwm.data.sandbox.testing import docker_session

# tiny models: one thread is fastest on a shared machine
torch.set_num_threads(1)

docker = pytest.fixture(scope="session", name="docker")(docker_session)


@pytest.fixture(scope="session")
def memorized_checkpoint(tmp_path_factory):
    """A small model that learned the reference answers of `rl_fixtures.LEARNED`."""
    from rl_fixtures import LEARNED, memorize

    from cwm.core.checkpoint import save_checkpoint
    from cwm.core.plugins import registry
    from cwm.rl.eval.task import load_task

    sequences, prompts = [], []
    for name, rows in LEARNED.items():
        task = load_task(name)
        env = registry("environment").create(task.environment, **task.env_options)
        try:
            for row in rows:
                state, first = env.start(row)
                (answer,) = env.reference(state)
                sequences.append(first.observation + answer)
                prompts.append(len(first.observation))
        finally:
            env.close()
    directory = tmp_path_factory.mktemp("memorized") / "ckpt"
    save_checkpoint(memorize(sequences, prompts), directory)
    return directory
