"""The demo's trace dataset, built by the installed ``cwm data build`` command.

cwm-train never imports cwm-data: it finds the ``data build`` command in the
root CLI (whichever package registered it) and runs it in a child process of
the same interpreter (isolated tracer workers, no memory left behind).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from cwm.core.errors import CwmError

# a child `cwm` that is this interpreter, whatever the PATH holds
_CWM = [sys.executable, "-c", "from cwm.core.cli import main; main()"]


def require_data_build() -> None:
    """Fail in one line when no installed package provides ``cwm data build``."""
    from cwm.core.cli import build_cli

    data = build_cli().commands.get("data")
    if data is None or "build" not in getattr(data, "commands", {}):
        raise CwmError(
            "cwm demo builds its traces with `cwm data build`, which cwm-data provides: "
            "pip install cwm-data (or `uv sync --all-packages` in the repository)"
        )


def functions_for(budget: float) -> int:
    """Functions to harvest for a demo of ``budget`` seconds (2,400 at 600 s: a build of
    about 40 s on 2 cores, most of it spent finding the functions and their inputs)."""
    return max(150, int(4 * budget))


def build_traces(out: Path, *, max_functions: int, vocab: str, seed: int, progress: bool) -> Path:
    """Trace functions of the standard library into the dataset directory ``out``, its
    token shards in the model's ``vocab``."""
    require_data_build()
    args = [
        "data",
        "build",
        "--out",
        str(out),
        "--force",
        "--max-functions",
        str(max_functions),
        "--set",
        # short functions, so their traces fit the demo's context; 20 lines rather than 15
        # harvest ~950 functions instead of ~750, and the wider variety generalizes better
        "max_source_lines=20",
        "--set",
        "per_function=8",
        "--set",
        "heldout_fraction=0.1",
        "--set",
        f"seed={seed}",
        "--set",
        f"vocab={vocab}",
        "--set",
        "plot=false",  # the report has its own plots; drawing stats.png took ~3.5 s
    ]
    if not progress:
        args.append("--quiet")
    with _exit_on_sigterm():  # so the build is stopped too, not left running on its own
        done = subprocess.run([*_CWM, *args], stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise CwmError(
            f"`cwm {' '.join(args)}` failed (exit {done.returncode}); see its error above"
        )
    return out


@contextlib.contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """SIGTERM (a ``kill``, a scheduler's time limit) raises SystemExit meanwhile: it
    unwinds through `subprocess.run`, which kills the child, instead of ending this
    process at once and leaving the child behind."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
