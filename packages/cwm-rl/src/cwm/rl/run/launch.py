"""A distributed RL run on this machine: ``cwm rl`` under torchrun, every rank on 127.0.0.1.

    torchrun_local(Path("rl.toml"), 2, "max_lag=1")   # rank 0 learns, rank 1 acts

What the package's tests and ``benchmarks/bench_rl.py`` launch; on a cluster, call
torchrun yourself (`cwm.rl.run.distributed`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cwm.core.errors import CwmError
from cwm.core.testing import free_port


def torchrun_command(
    config: Path, processes: int, *overrides: str, worker: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of ``torchrun_local`` (to start it yourself)."""
    entry = [str(worker), "rl"] if worker else ["--module", "cwm.rl"]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={processes}",
        "--master-addr=127.0.0.1",
        f"--master-port={free_port()}",
        *entry,
        "--config",
        str(config),
        "--no-progress",
    ] + [a for o in overrides for a in ("--set", o)]
    env = dict(os.environ)
    if sys.platform == "linux":  # gloo binds where the host name resolves unless told
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    return cmd, env


def torchrun_local(
    config: Path,
    processes: int,
    *overrides: str,
    worker: Path | None = None,
    timeout: float = 480,
) -> str:
    """Run ``cwm rl --config CONFIG --set OVERRIDE...`` as ``processes`` ranks (gloo over the
    loopback device); its output. ``worker``: a script to run instead of ``python -m
    cwm.rl`` (it takes ``rl`` and the options, as the tests' does to install their plugins)."""
    cmd, env = torchrun_command(config, processes, *overrides, worker=worker)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise CwmError(
            f"the {processes}-process RL run did not end in {timeout:.0f} s; "
            "give it fewer steps or a longer timeout"
        ) from exc
    if done.returncode != 0:
        raise CwmError(
            f"the {processes}-process RL run failed (exit {done.returncode}); its output ends:\n"
            + done.stdout[-2000:]
            + done.stderr[-3000:]
        )
    return done.stdout
