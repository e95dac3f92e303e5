"""`cwm demo`, shortened: real traces from `cwm data build`, training, evaluation, report."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.core.errors import CwmError
from cwm.train.demo import dataset
from cwm.train.metrics import read_metrics


def test_a_short_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        build_cli(), ["demo", "--time-budget", "100", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    for scores in (report, report["unseen_functions"]):
        parts = ("state_exact_match", "line_exact_match")
        for key in ("next_frame_exact_match", "token_accuracy", *parts):
            assert set(scores[key]) == {"trained", "untrained", "copy_previous"}
            assert all(0 <= v <= 1 for v in scores[key].values())
    assert report["heldout"]["frames"] > 50
    # even a short run learns: held-out loss and token accuracy beat the untrained model
    assert report["heldout_loss"]["trained"] < report["heldout_loss"]["untrained"] - 2
    assert report["token_accuracy"]["trained"] > report["token_accuracy"]["untrained"]
    assert report["training"]["steps"] > 0 and report["dataset"]["traces"]["heldout"] > 0
    assert {"data_build", "train", "evaluate", "total"} <= set(report["timings_s"])
    assert report["machine"]["torch"] and report["examples"]
    # exact match during training: probe points (as many as its share of the budget
    # allows, so maybe only the last), in order, the last one after training
    probe = report["exact_match_over_time"]
    points = probe["points"]
    assert 0 < probe["frames"] <= report["heldout"]["frames"] and len(points) >= 1
    assert [p["step"] for p in points] == sorted(p["step"] for p in points)
    assert points[-1]["step"] == report["training"]["steps"]
    assert all(0 <= p["exact_match"] <= 1 for p in points)
    logged = [r for r in read_metrics(out / "run") if "probe_exact_match" in r]
    assert len(logged) == len(points) - 1  # logged while training, the last one after
    assert (out / "loss.png").stat().st_size > 10_000
    summary = (out / "summary.md").read_text()
    assert "| trained |" in summary and summary in result.output
    assert "| model | exact match | state right | line right |" in summary
    # the run's checkpoint is a model checkpoint others can load
    from cwm.core.checkpoint import load_checkpoint

    assert load_checkpoint(report["training"]["checkpoint"]).config.n_layers == 4


def test_without_a_data_build_command_the_demo_says_what_to_install(monkeypatch):
    import click

    import cwm.core.cli

    monkeypatch.setattr(cwm.core.cli, "build_cli", lambda: click.Group("cwm"))
    with pytest.raises(CwmError, match="pip install cwm-data"):
        dataset.require_data_build()


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            kids += [int(k) for k in f.read().split()]
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc")
def test_a_demo_stopped_with_sigterm_stops_its_data_build(tmp_path):
    cmd = [sys.executable, "-c", "from cwm.core.cli import main; main()", "demo"]
    demo = subprocess.Popen(
        [*cmd, "--time-budget", "100", "--out", str(tmp_path / "demo"), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    build: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not build and time.monotonic() < deadline and demo.poll() is None:
            time.sleep(0.2)
            build = _children(demo.pid)
        assert build, "the demo never started its data build"
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=30) != 0
        deadline = time.monotonic() + 10
        while _alive(build[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(build[0]), "`cwm data build` outlived the demo"
    finally:
        demo.kill()
        for pid in build:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
