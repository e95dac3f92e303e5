"""What every benchmark shares: the machine it ran on, and where results go.

A benchmark compares against a baseline run in the same process, so each
result is a ratio that holds across machines; absolute numbers are kept too.
Results are JSON in benchmarks/results/NAME.json (NAME-gpu.json for GPU runs), or
in the directory a benchmark's ``--out`` names.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    with contextlib.suppress(OSError, StopIteration):
        info["cpu_model"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    return info


def add_quick_argument(parser: argparse.ArgumentParser, sizes: str) -> None:
    """``--quick``: tiny sizes, seconds, to check that a benchmark runs (``nox -s benchmarks_quick``)."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"tiny sizes ({sizes}), seconds: checks that the benchmark runs; its numbers are "
        "not measurements, so it needs --out DIR",
    )


def options(doc: str | None, sizes: str) -> argparse.Namespace:
    """The command line every benchmark shares: ``--quick`` and ``--out DIR``."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    add_quick_argument(parser, sizes)
    add_out_argument(parser)
    args = parser.parse_args()
    check_quick(parser, args)
    del sys.argv[1:]  # code a benchmark runs (base64.main in the tracer's) reads sys.argv too
    return args


def check_quick(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.quick and args.out in (None, RESULTS):
        parser.error(
            "--quick numbers are not measurements: give --out DIR (not benchmarks/results)"
        )


def skip(name: str, reason: str) -> None:
    """End a quick run that cannot happen here (no Docker engine, no GPU), saying so."""
    print(f"{name}: skipped, {reason}")
    raise SystemExit(0)


def best_of(fn: Callable[[], Any], repeat: int = 5) -> float:
    """The fastest of ``repeat`` wall-clock runs of ``fn``, in seconds (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def best_of_interleaved(fns: dict[str, Callable[[], Any]], repeat: int = 5) -> dict[str, float]:
    """The fastest wall-clock run of each function, taking turns (one warm-up each), so
    a load spike on a shared machine hits every contender rather than one."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def add_out_argument(parser: argparse.ArgumentParser, default: Path | None = RESULTS) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=default,
        help="directory for the result JSON (default: benchmarks/results); "
        "written as each part finishes",
    )


def write_result(name: str, result: dict[str, Any], out: Path = RESULTS) -> Path:
    """Save ``result`` with the machine description (atomically: a reader never sees half a
    file) and print it."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    payload = {
        "benchmark": name,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        **result,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
    print(json.dumps(payload, indent=2))
    return path
