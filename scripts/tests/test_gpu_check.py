"""scripts/gpu-check's driver and the GPU benchmarks' partial results, on CPU.

The steps themselves run in the ``gpu_check_dry_run`` nox session; these tests check
what a short GPU window depends on: every step leaves a file, a hung or spent step
costs only itself, a missing bundle is a one-line error, and a benchmark that fails
halfway keeps what it measured.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "gpu-check"


def gpu_check(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(CHECK), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_a_step_past_its_time_is_killed_and_recorded_and_the_rest_still_report(tmp_path):
    out = tmp_path / "out"
    proc = gpu_check("--dry-run", "--budget", "6", "--steps", "decode,train_gpu", str(out))
    assert proc.returncode == 1 and "did not pass" in proc.stderr
    summary = json.loads((out / "check.json").read_text())
    assert summary["steps"]["decode"]["status"] == "timeout"  # 4 engines and 2 models: longer
    assert summary["steps"]["train_gpu"]["status"] == "skipped: the budget is spent"
    for step in ("decode", "train_gpu"):
        record = json.loads((out / f"{step}.json").read_text())["check"]
        assert record["status"] == summary["steps"][step]["status"]


def test_without_a_bundle_the_install_says_what_to_do(tmp_path):
    proc = gpu_check("--bundle", str(tmp_path / "none"), str(tmp_path / "out"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("gpu-check: no cwm wheels in")
    assert "scripts/gpu-bundle" in proc.stderr


def test_unknown_steps_are_named(tmp_path):
    proc = gpu_check("--dry-run", "--steps", "versions,warp", str(tmp_path))
    assert proc.returncode != 0 and "unknown steps ['warp']" in proc.stderr


def test_bench_train_gpu_keeps_the_bf16_result_when_fp8_fails(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "bench_train_gpu.py"),
        "--dry-run",
        "--recipe",
        "no-such-recipe",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 1 and "unknown recipe 'no-such-recipe'" in proc.stderr
    result = json.loads((tmp_path / "train_gpu.json").read_text())
    assert result["bf16"]["tokens_per_s"] > 0 and "unknown recipe" in result["fp8"]["error"]
    assert "fp8_speedup" not in result
