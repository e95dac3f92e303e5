"""Docker sandbox: tool-step latency, container start time, validated tasks per minute.

- echo round trip in the persistent bash session against a fresh ``docker exec``
  per command, same container, same run. Goal: the session is at least
  5x faster (``session_speedup >= 5``).
- container start (``docker run`` of a repository image) to a first command.
- mutate-fix tasks validated per minute on a real project (inflection 0.5.1),
  from a fresh output directory: candidates tried in a sandbox, each kept one
  graded with its oracle patch in a fresh container.

Needs the Docker engine and the base image (``cwm sandbox setup``).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import options, skip, write_result

from cwm.data.forager.forage import ForageConfig, Forager
from cwm.data.sandbox.containers import DockerBackend
from cwm.data.sandbox.engine import engine_running
from cwm.data.sandbox.repo import prepare_repo

REPO = "inflection==0.5.1"
N_ECHO, N_STARTS, N_TASKS = 50, 5, 4


def _median(fn, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    global N_ECHO, N_STARTS, N_TASKS
    args = options(__doc__, "3 echoes, 1 start, 1 task")
    if args.quick:
        if not engine_running():
            skip("sandbox", "no Docker engine answers (cwm sandbox setup starts one)")
        N_ECHO, N_STARTS, N_TASKS = 3, 1, 1
    backend = DockerBackend()
    image = backend.build_repo_image(prepare_repo(REPO))
    starts = []
    for _ in range(N_STARTS):
        start = time.perf_counter()
        with backend.start(image) as box:
            assert box.exec(["true"]).ok
            starts.append(time.perf_counter() - start)
    with backend.start(image) as box:
        session = box.session
        session.run("true")  # start the shell
        assert session.run("echo hi").output == "hi\n"
        in_session = _median(lambda: session.run("echo hi"), N_ECHO)
        fresh_exec = _median(lambda: box.exec(["bash", "-c", "echo hi"]), N_ECHO)
    with tempfile.TemporaryDirectory() as out:
        cfg = ForageConfig(repo=REPO, out=out, tasks=N_TASKS, sandbox="docker", reward=None)
        summary = Forager(cfg, progress=False).run()
    write_result(
        "sandbox",
        {
            "goal": "session echo round trip >= 5x faster than a fresh docker exec",
            "session_speedup": round(fresh_exec / in_session, 1),
            "session_echo_ms": round(in_session * 1000, 2),
            "docker_exec_echo_ms": round(fresh_exec * 1000, 2),
            "container_start_to_first_exec_s": round(statistics.median(starts), 3),
            "repo": REPO,
            "validated_tasks": summary["kept"],
            "candidates_tried": summary["candidates"],
            "synthesis_seconds": summary["synthesis_seconds"],
            "validated_tasks_per_minute": summary["validated_tasks_per_minute"],
        },
        args.out,
    )


if __name__ == "__main__":
    main()
