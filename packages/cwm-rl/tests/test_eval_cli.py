"""``cwm eval`` from the command line: runs, resumes, and refuses bad usage in one line."""

import json

from click.testing import CliRunner
from rl_fixtures import OUTPUT_ROWS, write_rows

from cwm.core.cli import build_cli


def cwm(*args):
    return CliRunner().invoke(build_cli(), ["eval", *args])


def test_eval_with_the_oracle_writes_samples_and_a_summary(tmp_path):
    data = write_rows(tmp_path / "rows.jsonl", OUTPUT_ROWS)
    out = tmp_path / "run"
    result = cwm(
        "output-prediction",
        "--policy",
        "oracle",
        "--data",
        str(data),
        "-k",
        "3",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "score 1.0000" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == len(OUTPUT_ROWS) and summary["samples_per_row"] == 3
    assert summary["metrics"]["pass@3"]["mean"] == 1.0
    assert summary["metrics"]["majority@3"]["mean"] == 1.0
    sample = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    assert {
        "row_id",
        "prompt_tokens",
        "prompt",
        "response_tokens",
        "response",
        "outcomes",
        "reward",
        "policy_version",
        "seconds",
    } <= set(sample)
    # a second run over the same --out has nothing left to do
    again = cwm(
        "output-prediction",
        "--policy",
        "oracle",
        "--data",
        str(data),
        "-k",
        "3",
        "--out",
        str(out),
        "--quiet",
    )
    assert again.exit_code == 0 and len((out / "samples.jsonl").read_text().splitlines()) == 6


def test_bad_usage_gets_one_line_that_says_what_to_do(tmp_path):
    none = cwm("output-prediction")
    assert none.exit_code != 0 and "choose one of --checkpoint" in none.output
    unknown = cwm("no-such-task", "--policy", "oracle")
    assert unknown.exit_code != 0 and "unknown task 'no-such-task'; built in:" in unknown.output
    missing = cwm("output-prediction", "--policy", "oracle", "--data", str(tmp_path / "x.jsonl"))
    assert missing.exit_code != 0 and "does not exist" in missing.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"code": "def f(): pass"}\n')
    result = cwm(
        "output-prediction", "--policy", "oracle", "--data", str(bad), "--out", str(tmp_path / "o")
    )
    assert (
        result.exit_code != 0
        and 'bad.jsonl:1: a row must be a JSON object with a string "id"' in result.output
    )
    key = cwm("output-prediction", "--policy", "oracle", "--set", "no_such_key=1")
    assert key.exit_code != 0 and "no_such_key" in key.output
    down = cwm("output-prediction", "--endpoint", "http://127.0.0.1:9/v1")
    assert down.exit_code != 0 and "no server answers at http://127.0.0.1:9/v1" in down.output


def test_eval_runs_a_checkpoint_in_process(tmp_path):
    import msgspec

    from cwm.core.checkpoint import save_checkpoint
    from cwm.core.model import FLAVORS, build_model

    config = msgspec.structs.replace(FLAVORS["debug"], max_seq_len=256)
    save_checkpoint(build_model(config, seed=0), tmp_path / "ckpt")
    data = write_rows(tmp_path / "rows.jsonl", OUTPUT_ROWS)
    out = tmp_path / "run"
    result = cwm(
        "output-prediction",
        "--checkpoint",
        str(tmp_path / "ckpt"),
        "--data",
        str(data),
        "--set",
        "sampling.max_tokens=8",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    # an untrained model: garbage, cut at 8 tokens, scored and rewarded all the same
    assert len(samples) == len(OUTPUT_ROWS)
    assert all(s["policy_version"] == 0 and 1 <= len(s["response_tokens"]) <= 8 for s in samples)
    assert not any(s["outcomes"]["pass"] for s in samples)
    assert all(s["outcomes"]["check"] != "pass" and s["reward"] == 0.0 for s in samples)


def test_the_summary_is_logged_through_the_logger_plugins(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = write_rows(tmp_path / "rows.jsonl", OUTPUT_ROWS)
    out = tmp_path / "run"
    args = ["output-prediction", "--policy", "oracle", "--data", str(data), "--out", str(out)]
    result = cwm(*args, "--logger", "jsonl", "--logger", "tensorboard", "--quiet")
    assert result.exit_code == 0, result.output
    (point,) = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert point["step"] == 0 and point["output-prediction/score"] == 1.0
    assert point["output-prediction/pass@1"] == 1.0 and "output-prediction/pass/stderr" in point
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    (scalar,) = events.Scalars("output-prediction/score")
    assert scalar.value == 1.0
    # the default is jsonl; a rerun replaces the point instead of adding one
    assert cwm(*args, "--quiet").exit_code == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


def test_an_unknown_logger_fails_before_the_run(tmp_path):
    data = write_rows(tmp_path / "rows.jsonl", OUTPUT_ROWS)
    out = tmp_path / "run"
    result = cwm(
        "output-prediction",
        "--policy",
        "oracle",
        "--data",
        str(data),
        "--out",
        str(out),
        "--logger",
        "no-such-logger",
    )
    assert result.exit_code != 0 and "no-such-logger" in result.output
    assert not (out / "samples.jsonl").exists()


def test_an_unknown_environment_option_is_one_line_naming_the_known_ones(tmp_path):
    import pytest

    from cwm.core.errors import CwmError
    from cwm.core.plugins import registry

    for name, known in (
        ("trace-prediction", "; known keys: mode"),
        ("output-prediction", "; known keys: mode"),
        ("input-prediction", " take no keys"),
    ):
        with pytest.raises(
            CwmError, match=f"bogus: unknown key \\(environment '{name}' options{known}"
        ):
            registry("environment").create(name, bogus=1)
    result = cwm("output-prediction", "--policy", "oracle", "--set", "env_options.bogus=1")
    assert result.exit_code != 0 and "bogus: unknown key" in result.output
    assert "known keys: mode" in result.output


def test_task_keys_out_of_range_are_refused_before_anything_runs(tmp_path):
    for key, want in [
        ("concurrency=0", "concurrency: must be an int >= 1, got 0"),  # would wait forever
        ("max_turns=0", "max_turns: must be an int >= 1, got 0"),
        ("deadline_s=-1", "deadline_s: must be a number > 0, got -1"),
        ("sampling.max_tokens=0", "sampling.max_tokens: must be an int >= 1, got 0"),
        ("sampling.top_p=0", "sampling.top_p: must be a number > 0 and <= 1, got 0"),
        ("sampling.top_p=1.5", "sampling.top_p: must be a number > 0 and <= 1, got 1.5"),
    ]:
        result = cwm(
            "output-prediction", "--policy", "oracle", "--set", key, "--out", str(tmp_path)
        )
        assert result.exit_code == 1 and want in result.output, result.output


def test_a_device_this_machine_lacks_is_one_line(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without a GPU
    result = cwm("output-prediction", "--checkpoint", str(tmp_path), "--device", "cuda")
    assert (
        result.exit_code == 1 and "no CUDA GPU is available here; use --device cpu" in result.output
    )
    result = cwm("output-prediction", "--checkpoint", str(tmp_path), "--device", "tpu:9")
    assert result.exit_code == 1 and "--device tpu:9: not a device" in result.output


def test_tasks_without_built_in_data_ask_for_it(tmp_path):
    for task in ("swe", "swe-testgen"):
        result = cwm(task, "--policy", "oracle", "--out", str(tmp_path / task))
        assert result.exit_code == 1, result.output
        assert f"{task} needs --data FILE (a cwm forage tasks.jsonl or SWE-bench JSONL" in (
            result.output
        )
