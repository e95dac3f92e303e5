"""``cwm eval swe`` on the local sandbox: SWE-bench JSONL rows (keyed by ``instance_id``), the
oracle's full marks, and a tiny untrained model whose garbage runs every episode to its end
(turn cap or context) with graded outcomes, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from rl_fixtures import write_rows
from swe_repo import make_repo, swebench_row

from cwm.core.cli import build_cli

LOCAL = ["--set", "env_options.sandbox=local", "--set", "env_options.test_timeout=60.0"]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("swe")
    row = swebench_row(str(make_repo(root / "mylib")))
    assert "id" not in row  # a SWE-bench instance as the dataset ships it
    return write_rows(root / "swebench.jsonl", [row])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cwm.core.checkpoint import save_checkpoint
    from cwm.core.model import FLAVORS, build_model

    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    config = msgspec.structs.replace(FLAVORS["debug"], max_seq_len=2048)
    save_checkpoint(build_model(config, seed=0), path)
    return path


def cwm_eval(*args: str) -> list[dict]:
    result = CliRunner().invoke(build_cli(), ["eval", "swe", "--quiet", *LOCAL, *args])
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--out") + 1])
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def test_the_oracle_resolves_swebench_rows_keyed_by_instance_id(rows, tmp_path) -> None:
    (sample,) = cwm_eval("--policy", "oracle", "--data", str(rows), "--out", str(tmp_path))
    assert sample["row_id"] == "tiny__mylib-1" and sample["finish"] == "submitted"
    assert sample["outcomes"]["pass"] is True and sample["reward"] == 1.0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["score"] == 1.0 and summary["rows"] == 1


def test_a_row_without_any_id_is_a_one_line_error(tmp_path) -> None:
    data = write_rows(tmp_path / "rows.jsonl", [{"problem_statement": "x"}])
    result = CliRunner().invoke(
        build_cli(), ["eval", "swe", "--policy", "oracle", "--data", str(data), "--quiet"]
    )
    assert result.exit_code != 0
    assert 'rows.jsonl:1: a row must be a JSON object with a string "id" or "instance_id"' in (
        result.output
    )


def test_an_untrained_model_runs_to_the_turn_cap_with_graded_outcomes(
    rows, checkpoint, tmp_path
) -> None:
    args = ["--set", "max_turns=3", "--set", "sampling.max_tokens=48", "--set", "deadline_s=600"]
    (sample,) = cwm_eval(
        "--checkpoint", str(checkpoint), "--data", str(rows), "--out", str(tmp_path), *args
    )
    assert sample["finish"] == "turns" and sample["turns"] == 3
    out = sample["outcomes"]
    assert out["pass"] is False and out["submitted"] is False and out["format_errors"] >= 1
    assert sample["reward"] == -1.0
    # every reply of the model got an observation (a tool result or the mistake named)
    assert sample["response"].count("<|start_header_id|>") >= 2


def test_an_untrained_model_runs_until_its_context_is_full(rows, checkpoint, tmp_path) -> None:
    args = ["--set", "max_turns=100", "--set", "sampling.max_tokens=400"]
    (sample,) = cwm_eval(
        "--checkpoint", str(checkpoint), "--data", str(rows), "--out", str(tmp_path), *args
    )
    assert sample["finish"] == "context" and sample["turns"] >= 2
    assert sample["outcomes"]["pass"] is False and sample["reward"] == -1.0
    # it ends when the history (the last tool result included) leaves no room for a reply
    assert len(sample["prompt_tokens"]) + len(sample["response_tokens"]) >= 2048
