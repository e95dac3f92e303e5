"""`cwm trace batch` / `trace_batch`: input order, bad lines, resuming and sharding."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.core.io import read_records
from cwm.core.schemas import Trace
from cwm.data.trace import TraceConfig, parse_shard, trace_batch

CONFIG = TraceConfig(max_seconds=1.0, cpu_seconds=1.0, tasks_per_process=16)
SOURCE = "def f(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n"


def write_tasks(path, n: int, bad: bool = True) -> list[str]:
    lines, ids = [], []
    for i in range(n):
        ids.append(f"t{i}")
        lines.append(json.dumps({"id": f"t{i}", "source": SOURCE, "call": f"f({i})"}))
        if bad and i == 2:
            ids.append("line-4")
            lines.append("{not json")
        if bad and i == 4:
            ids.append("no-call")
            lines.append(json.dumps({"id": "no-call", "source": SOURCE}))
    path.write_text("\n".join(lines) + "\n")
    return ids


def test_one_record_per_task_in_input_order_bad_lines_included(tmp_path):
    tasks, out = tmp_path / "tasks.jsonl", tmp_path / "traces.jsonl"
    ids = write_tasks(tasks, 8)
    summary = trace_batch(tasks, out, config=CONFIG, workers=2, progress=False)
    records = list(read_records(out, Trace))
    assert [r.id for r in records] == ids
    assert summary.outcomes == {"returned": 8, "invalid": 2}
    by_id = {r.id: r for r in records}
    assert by_id["t5"].result == repr(sum(range(5)))
    assert "not a task" in by_id["line-4"].error and "call" in by_id["no-call"].error


def test_an_interrupted_batch_resumes_where_it_stopped(tmp_path):
    tasks, out = tmp_path / "tasks.jsonl", tmp_path / "traces.jsonl"
    ids = write_tasks(tasks, 10, bad=False)
    full = tmp_path / "full.jsonl"
    trace_batch(tasks, full, config=CONFIG, progress=False)
    lines = full.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:4]) + lines[4][:25])  # killed while writing line 5
    summary = trace_batch(tasks, out, config=CONFIG, progress=False)
    assert (summary.skipped, summary.written) == (4, 6)
    assert [r.id for r in read_records(out, Trace)] == ids


def test_shards_split_the_tasks_without_overlap(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    ids = write_tasks(tasks, 9, bad=False)
    seen = []
    for k in range(3):
        out = tmp_path / f"shard-{k}.jsonl"
        trace_batch(tasks, out, config=CONFIG, shard=(k, 3), progress=False)
        seen += [r.id for r in read_records(out, Trace)]
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


@pytest.mark.parametrize("text", ["3", "1/0", "4/4", "a/b", "-1/2"])
def test_bad_shard_specs_are_refused(text):
    with pytest.raises(Exception, match="--shard"):
        parse_shard(text)


def test_cli_run_prints_the_cwm_trace_and_json(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text(SOURCE)
    cli = build_cli()
    text = CliRunner().invoke(cli, ["trace", "run", str(program), "--call", "f(3)"])
    assert text.exit_code == 0, text.output
    assert text.output.startswith(
        "<|begin_of_text|><|trace_context_start|>def f(n):  # << START_OF_TRACE"
    )
    assert text.output.rstrip().endswith('<|arg_sep|>"3"<|frame_sep|><|end_of_text|>')
    record = CliRunner().invoke(
        cli, ["trace", "run", str(program), "--call", "f(3)", "--format", "json"]
    )
    data = json.loads(record.output)
    assert (data["kind"], data["outcome"], data["result"], data["id"]) == (
        "trace",
        "returned",
        "3",
        "prog",
    )


def test_cli_run_reports_an_invalid_task_on_one_line(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text(SOURCE)
    result = CliRunner().invoke(build_cli(), ["trace", "run", str(program), "--call", "missing(1)"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: invalid: ") and result.output.count("\n") == 1


def test_cli_batch(tmp_path):
    tasks, out = tmp_path / "tasks.jsonl", tmp_path / "traces.jsonl"
    write_tasks(tasks, 3, bad=False)
    result = CliRunner().invoke(
        build_cli(),
        [
            "trace",
            "batch",
            "--in",
            str(tasks),
            "--out",
            str(out),
            "--workers",
            "2",
            "--quiet",
            "--set",
            "max_seconds=1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 3 traces" in result.output and len(list(read_records(out, Trace))) == 3


def test_an_id_with_a_lone_surrogate_is_one_invalid_record_and_reruns_go_on(tmp_path):
    tasks, out = tmp_path / "tasks.jsonl", tmp_path / "traces.jsonl"
    write_tasks(tasks, 3, bad=False)
    lines = tasks.read_text().splitlines()
    bad = '{"id": "a\\ud800", "source": "def f():\\n    return 1\\n", "call": "f()"}'
    tasks.write_text("\n".join([lines[0], bad, *lines[1:]]) + "\n")
    summary = trace_batch(tasks, out, config=CONFIG, progress=False)
    records = list(read_records(out, Trace))
    assert [r.id for r in records] == ["t0", "a\\ud800", "t1", "t2"]
    assert records[1].outcome == "invalid" and "lone surrogate" in records[1].error
    assert summary.outcomes == {"returned": 3, "invalid": 1}
    again = trace_batch(tasks, out, config=CONFIG, progress=False)
    assert (again.written, again.skipped) == (0, 4)


def test_duplicate_ids_keep_the_first_record_and_are_reported(tmp_path):
    tasks, out = tmp_path / "tasks.jsonl", tmp_path / "traces.jsonl"
    lines = [
        json.dumps({"id": "same", "source": SOURCE, "call": call}) for call in ("f(3)", "f(4)")
    ]
    tasks.write_text(
        "\n".join([*lines, json.dumps({"id": "other", "source": SOURCE, "call": "f(1)"})])
    )
    result = CliRunner().invoke(
        build_cli(), ["trace", "batch", "--in", str(tasks), "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "skipped 1 tasks whose id an earlier line already has" in result.output
    records = list(read_records(out, Trace))
    assert [(r.id, r.result) for r in records] == [("same", "3"), ("other", "0")]


def test_cli_run_json_of_a_crashed_trace_exits_1(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text("import os\ndef f():\n    os._exit(3)\n")
    result = CliRunner().invoke(
        build_cli(), ["trace", "run", str(program), "--call", "f()", "--format", "json"]
    )
    assert result.exit_code == 1
    assert json.loads(result.output)["outcome"] == "crashed"
