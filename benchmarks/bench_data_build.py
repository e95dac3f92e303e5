"""The default trace dataset build: wall time, what it produced, and what its isolation costs.

Goals: `cwm data build` with its defaults yields at least 20,000 distinct traces
of at least 2,000 distinct functions of real code in under 10 minutes on 2 cores;
and its isolation (a worker in bubblewrap; every traced task in a fresh forked
process, after calls that raise an uninformative exception are screened out
untraced in a shared one) takes at most 1.3x the time of the earlier one (no
bubblewrap, 64 tasks per process, so that one task's global changes reached the
next). Both builds run here, one after the other, into temporary directories.

    uv run python benchmarks/bench_data_build.py        # results/data_build.json
"""

from __future__ import annotations

import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parent))
from common import options, write_result

from cwm.data.dataset.build import BuildReport, build_dataset
from cwm.data.dataset.config import BuildConfig

WORKERS = min(2, os.cpu_count() or 1)


def build(config: BuildConfig) -> tuple[float, BuildReport]:
    with tempfile.TemporaryDirectory(prefix="cwm-build-") as tmp:
        config = msgspec.structs.replace(config, out=str(Path(tmp) / "traces"))
        started = time.perf_counter()
        report = build_dataset(config, progress=False)
        return time.perf_counter() - started, report


def main() -> None:
    args = options(__doc__, "the functions of textwrap.py, no refining")
    quick = {}
    if args.quick:  # one module: harvesting the whole stdlib alone takes minutes
        textwrap = f"directory:{sysconfig.get_paths()['stdlib']}/textwrap.py"
        quick = {"corpora": [textwrap], "refine": False, "plot": False}
    default = BuildConfig(workers=WORKERS, **quick)
    shared = msgspec.structs.replace(
        default,
        trace=msgspec.structs.replace(
            default.trace, sandbox="process", tasks_per_process=64, screen=[]
        ),
    )
    load_before = os.getloadavg()
    shared_seconds, shared_report = build(shared)
    seconds, report = build(default)
    ratio = seconds / shared_seconds
    everything = report.stats["all"]
    write_result(
        "data_build",
        {
            "config": f"defaults (corpus stdlib), workers={WORKERS}",
            "isolation": "bubblewrap worker; a fresh forked process per traced task; "
            "uninformative calls screened out untraced",
            "seconds": round(seconds, 1),
            "baseline": "sandbox=process, tasks_per_process=64, no screening (the isolation before)",
            "baseline_seconds": round(shared_seconds, 1),
            "baseline_traces": shared_report.stats["all"]["traces"],
            "ratio": round(ratio, 2),
            "load_average_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
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
            "goal": ">= 20000 traces of >= 2000 functions in < 600 s on 2 cores; <= 1.3x baseline",
            "passed": everything["traces"] >= 20_000
            and everything["functions"] >= 2_000
            and seconds < 600
            and ratio <= 1.3,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
