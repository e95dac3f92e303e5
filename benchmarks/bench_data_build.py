"""The default trace dataset build: wall time and what it produced.

Goal: `cwm data build` with its defaults yields at least 20,000
distinct traces of at least 2,000 distinct functions of real code in under 10
minutes on 2 cores. This runs exactly that (into a temporary directory) and
records the time, the counts and why traces were dropped.

    uv run python benchmarks/bench_data_build.py        # results/data_build.json
"""

from __future__ import annotations

import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import options, write_result

from cwm.data.dataset.build import build_dataset
from cwm.data.dataset.config import BuildConfig


def main() -> None:
    args = options(__doc__, "the functions of textwrap.py, no refining")
    quick = {}
    if args.quick:  # one module: harvesting the whole stdlib alone takes minutes
        textwrap = f"directory:{sysconfig.get_paths()['stdlib']}/textwrap.py"
        quick = {"corpora": [textwrap], "refine": False, "plot": False}
    with tempfile.TemporaryDirectory(prefix="cwm-build-") as tmp:
        config = BuildConfig(
            out=str(Path(tmp) / "traces"), workers=min(2, os.cpu_count() or 1), **quick
        )
        started = time.perf_counter()
        report = build_dataset(config, progress=False)
        seconds = time.perf_counter() - started
    everything = report.stats["all"]
    write_result(
        "data_build",
        {
            "config": "defaults (corpus stdlib), workers=2",
            "seconds": round(seconds, 1),
            "traces": everything["traces"],
            "functions": everything["functions"],
            "modules": everything["modules"],
            "train_traces": report.stats["splits"]["train"]["traces"],
            "heldout_traces": report.stats["splits"]["heldout"]["traces"],
            "frames_per_trace": everything["frames_per_trace"],
            "token_length": everything["token_length"],
            "inputs": everything["inputs"],
            "dropped": report.stats["dropped"],
            "phases": report.stats["seconds"],
            "goal": ">= 20000 traces of >= 2000 functions in < 600 s on 2 cores",
            "passed": everything["traces"] >= 20_000
            and everything["functions"] >= 2_000
            and seconds < 600,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
