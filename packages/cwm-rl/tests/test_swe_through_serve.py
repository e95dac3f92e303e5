"""A tiny untrained model served by ``cwm serve``, acting in SWE episodes through the official
``openai`` client: ``cwm forage --policy openai:URL`` and ``cwm eval swe --endpoint URL`` run
every episode to its end (turn cap or context) with graded outcomes; garbage never crashes."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from rl_fixtures import write_rows
from swe_repo import make_repo, swebench_row

from cwm.core.cli import build_cli
from cwm.core.io import read_records
from cwm.core.schemas import Trajectory
from cwm.serve.testing import running_server

CONTEXT = 2048

pytest.importorskip("openai")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("swe") / "mylib")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory):
    from cwm.core.checkpoint import save_checkpoint
    from cwm.core.model import FLAVORS, build_model

    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    config = msgspec.structs.replace(FLAVORS["debug"], max_seq_len=CONTEXT)
    save_checkpoint(build_model(config, seed=0), path)
    args = ["--checkpoint", str(path), "--set", "kv_cache_mib=32", "--threads", "1"]
    with running_server(*args) as base:
        yield base


def cwm(*args: str) -> str:
    result = CliRunner().invoke(build_cli(), list(args))
    assert result.exit_code == 0, result.output
    return result.output


def forage(repo: Path, url: str, out: Path, *sets: str) -> Trajectory:
    rows = write_rows(out.parent / "swebench.jsonl", [swebench_row(str(repo))])
    cwm(
        "forage",
        "--repo",
        str(repo),
        "--sandbox",
        "local",
        "--swebench",
        str(rows),
        "--tasks",
        "1",
        "--policy",
        f"openai:{url}",
        "--out",
        str(out),
        "--set",
        "env.test_timeout=60.0",
        *(x for s in sets for x in ("--set", s)),
    )
    (trajectory,) = read_records(out / "trajectories.jsonl", Trajectory)
    return trajectory


def test_forage_runs_a_served_model_until_its_context_is_full(repo, url, tmp_path) -> None:
    # forage asks for replies as long as the context allows: garbage that never stops fills it
    trajectory = forage(repo, url, tmp_path / "run", "env.max_turns=200")
    assert trajectory.finish == "context", trajectory.meta
    assert f"context is {CONTEXT}" in trajectory.meta["error"]
    assert all(t.observation.content for t in trajectory.turns)  # each reply got an answer
    assert trajectory.tests is not None and not trajectory.tests.resolved
    assert trajectory.reward == -1.0


def test_eval_swe_through_the_endpoint_runs_to_the_turn_cap(repo, url, tmp_path) -> None:
    rows = write_rows(tmp_path / "swebench.jsonl", [swebench_row(str(repo))])
    cwm(
        "eval",
        "swe",
        "--endpoint",
        url,
        "--data",
        str(rows),
        "--out",
        str(tmp_path / "ev"),
        "--quiet",
        "--set",
        "env_options.sandbox=local",
        "--set",
        "max_turns=3",
        "--set",
        "sampling.max_tokens=64",
    )
    (sample,) = [
        json.loads(x) for x in (tmp_path / "ev" / "samples.jsonl").read_text().splitlines()
    ]
    assert sample["finish"] == "turns" and sample["turns"] == 3
    assert sample["outcomes"]["pass"] is False and sample["outcomes"]["submitted"] is False
    assert sample["reward"] == -1.0
