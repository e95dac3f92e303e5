"""The trace worker: it stays small, and forks a fork server for each run of tasks from one module.

`TracePool` starts it as ``python -m cwm.data.trace.workers.worker BASE_DIR ISOLATION``
(in bubblewrap, `cwm.data.trace.workers.bwrap`, unless ISOLATION is ``process``). It reads a
config frame, then task frames, on stdin and answers each task with one Trace
frame on stdout.

Every task runs in a process forked for it, and a fork costs in proportion to
the memory of the process forked. So the worker imports only the tracer and
traces one call of its own (warm caches for every fork), and forks a fork server
(`cwm.data.trace.workers.fork_server`) for each run of tasks from one top-level
module (a corpus yields a function's calls together). That server imports what
those tasks import and forks their task processes; at the next module it exits
and a fresh one is forked, so no fork copies the imports of every module traced
so far.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field

import msgspec

from cwm.core.isolation import enter_network_namespace
from cwm.data.trace.backends import get_backend
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.runner import invalid_trace, trace_in_process
from cwm.data.trace.task import TraceTask
from cwm.data.trace.workers.fork_server import WORKDIR, ForkServer, preload, task_imports
from cwm.data.trace.workers.forking import fork_child
from cwm.data.trace.workers.orphans import become_subreaper, empty_directory, kill_orphans
from cwm.data.trace.workers.protocol import TASK, TRACE, frame, read_frame, write_all
from cwm.data.trace.workers.task_process import settle_for_tasks

_WARM_UP = "def warm_up(items):\n    ordered = sorted(items)\n    return {'n': len(ordered)}\n"
#: a fork server is replaced after its tasks import this many modules, even within one module
_MAX_IMPORTS = 48


@dataclass
class _Server:
    """A fork server, seen from the worker."""

    pid: int
    key: str
    task_fd: int  # worker -> server
    result_fd: int  # server -> worker
    imports: set[str] = field(default_factory=set)
    buf: bytearray = field(default_factory=bytearray)


class Worker:
    def __init__(self, config: TraceConfig, base: str | None = None, isolation: str = "process"):
        self.config, self.isolation = config, isolation
        self.backend = get_backend(config.backend).name
        # bubblewrap gave the worker a network namespace of its own already
        self.isolated_network = not config.network and (
            isolation == "bwrap" or enter_network_namespace()
        )
        become_subreaper()  # a fork server that dies leaves its task processes here
        self.base = base or tempfile.mkdtemp(prefix="cwm-trace-")  # task processes' directories
        os.makedirs(os.path.join(self.base, WORKDIR), exist_ok=True)
        settle_for_tasks(os.path.join(self.base, WORKDIR))
        self.server: _Server | None = None
        self.protocol_fds: tuple[int, ...] = ()  # fork servers close these
        self.encode = msgspec.msgpack.Encoder().encode
        preload(config.preload, set())
        with contextlib.suppress(Exception):  # the tracer's caches, warm in every fork
            trace_in_process(TraceTask(id="warm-up", source=_WARM_UP, call="warm_up([3])"), config)

    def close(self) -> None:
        self._end_server()
        shutil.rmtree(self.base, ignore_errors=True)

    def run(self, task: TraceTask, payload: bytes) -> bytes:
        """Trace one task (``payload`` is its encoded frame) in its module's fork server."""
        key = (task.module or "").split(".")[0]
        server = self.server
        imports = set(task_imports(task))
        if server is None or server.key != key or len(server.imports | imports) > _MAX_IMPORTS:
            self._end_server()
            server = self.server = self._fork_server(key)
        server.imports |= imports
        with contextlib.suppress(BrokenPipeError):  # it died: read_frame says so
            write_all(server.task_fd, frame(TASK, payload))
        found = read_frame(server.result_fd, server.buf)
        if found is not None:
            return found[1]
        self._end_server()
        error = "the trace worker's fork server died during the task (killed by the traced code?)"
        return self.encode(invalid_trace(task, error, self.backend, "crashed"))

    def _fork_server(self, key: str) -> _Server:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        pid = fork_child(
            lambda: self._serve(task_r, result_w),
            close=(task_w, result_r, *self.protocol_fds),
            status=0,
        )
        os.close(task_r)
        os.close(result_w)
        return _Server(pid, key, task_w, result_r)

    def _serve(self, task_fd: int, result_fd: int) -> None:
        """In the forked fork server: serve tasks until the worker closes ``task_fd``."""
        server = ForkServer(self.config, self.base, self.isolation, self.isolated_network)
        server.protocol_fds = (task_fd, result_fd)
        server.serve(task_fd, result_fd)

    def _end_server(self) -> None:
        """Close the fork server's input (it ends its task processes and exits) and clean up."""
        server, self.server = self.server, None
        if server is None:
            return
        os.close(server.task_fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(server.pid, 0)
        os.close(server.result_fd)
        kill_orphans()  # what its task processes left, had it died before ending them
        empty_directory(self.base, empty=WORKDIR)


def main() -> None:
    inp, out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # a stray print must not corrupt the protocol
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool decides when workers stop
    buf = bytearray()
    first = read_frame(inp, buf)
    if first is None:
        return
    base, isolation = [*sys.argv[1:], None, "process"][:2]
    worker = Worker(msgspec.msgpack.decode(first[1], type=TraceConfig), base, isolation)
    worker.protocol_fds = (inp, out)
    decode = msgspec.msgpack.Decoder(TraceTask).decode
    try:
        while (found := read_frame(inp, buf)) is not None:
            write_all(out, frame(TRACE, worker.run(decode(found[1]), found[1])))
    finally:
        worker.close()


if __name__ == "__main__":
    main()
