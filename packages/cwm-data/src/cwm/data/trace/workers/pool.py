"""`TracePool`: long-lived worker processes that trace tasks in isolation.

Each worker is a fork server (`cwm.data.trace.workers.worker`): it pays for
starting Python and importing once, then forks a fresh process per task. The
pool keeps a few tasks queued per worker, never blocks on a pipe (so a large
trace cannot deadlock it), and replaces a worker that dies or stops answering;
its tasks come back as ``crashed`` Traces. Results come back in input order.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator

import msgspec

from cwm.core.errors import CwmError
from cwm.core.schemas import Trace
from cwm.data.trace.accel import use_c
from cwm.data.trace.backends import resolve
from cwm.data.trace.config import TraceConfig
from cwm.data.trace.runner import invalid_trace
from cwm.data.trace.task import TraceTask
from cwm.data.trace.workers.bwrap import (
    SANDBOX_TMP,
    bwrap_binary,
    bwrap_command,
    python_command,
    resolve_sandbox,
)
from cwm.data.trace.workers.orphans import base_prefix, remove_stale_bases
from cwm.data.trace.workers.protocol import CONFIG, TASK, TRACE, frame, take_frame

_STALL_SECONDS = 60.0  # beyond a task's own kill deadline: the worker itself is stuck


_WORKER_MODULE = "cwm.data.trace.workers.worker"


def worker_command(isolation: str, base: str, network: bool) -> list[str]:
    """How a worker starts: in bubblewrap (its ``base`` seen as /tmp) or as a plain process."""
    if isolation == "bwrap":
        prefix = bwrap_command(bwrap_binary() or "bwrap", base, network)
        return [*prefix, *python_command("-m", _WORKER_MODULE, SANDBOX_TMP, isolation)]
    return python_command("-m", _WORKER_MODULE, base, isolation)


class _Worker:
    def __init__(self, config_frame: bytes, isolation: str, network: bool):
        # task directories; removed with the worker (or by the next pool if we are killed)
        self.base = tempfile.mkdtemp(prefix=base_prefix())
        self.proc = subprocess.Popen(
            worker_command(isolation, self.base, network),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches the pool, which stops the workers
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd, self.rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self.wfd, False)
        self.outbuf = bytearray(config_frame)
        self.inbuf = bytearray()
        self.inflight: deque[int] = deque()
        self.last_progress = time.monotonic()
        self.answered = 0

    def stop(self, graceful: bool) -> None:
        """End the worker (given a few seconds to finish cleanly) and remove its directories."""
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]  # end of input: it exits
        try:
            self.proc.wait(timeout=5 if graceful else 0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.proc.stdout.close()  # type: ignore[union-attr]
        shutil.rmtree(self.base, ignore_errors=True)


class TracePool:
    """Trace tasks in ``workers`` isolated worker processes.

    >>> with TracePool(TraceConfig(), workers=2) as pool:
    ...     traces = list(pool.imap(tasks))
    """

    def __init__(self, config: TraceConfig | None = None, workers: int = 1, *, depth: int = 2):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.config = config or TraceConfig()
        # a bad backend or recorder fails here, not in every worker
        self.backend = resolve(self.config.backend)
        use_c(self.config.accelerate)
        #: ``bwrap`` or ``process`` (each trace's ``meta.isolation``)
        self.isolation = resolve_sandbox(self.config.sandbox)
        self.n_workers, self.depth = workers, depth
        self._config_frame = frame(CONFIG, msgspec.msgpack.encode(self.config))
        self._decode = msgspec.msgpack.Decoder(Trace).decode
        self._sel = selectors.DefaultSelector()
        self._workers: list[_Worker] = []
        self._tasks: dict[int, TraceTask] = {}
        self._done: dict[int, Trace] = {}
        self._next = 0
        self._stall = max(self.config.max_seconds, self.config.cpu_seconds) + _STALL_SECONDS
        self.restarts = 0
        self._failed_starts = 0  # workers in a row that died before answering anything
        remove_stale_bases()  # what pools killed before they could clean up left behind

    def __enter__(self) -> TracePool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(worker.rfd)
            worker.stop(graceful=not worker.inflight)
        self._workers = []
        self._sel.close()

    def trace(self, task: TraceTask) -> Trace:
        return next(self.imap([task]))

    def imap(self, tasks: Iterable[TraceTask]) -> Iterator[Trace]:
        """Trace ``tasks``; yields one Trace per task, in input order."""
        self._start()
        order: deque[int] = deque()
        pending = iter(tasks)
        exhausted = False
        capacity = self.n_workers * self.depth
        while True:
            # keep every worker busy, but hold few finished traces behind a slow one
            while not exhausted and self._inflight() < capacity and len(order) < 8 * capacity:
                task = next(pending, None)
                if task is None:
                    exhausted = True
                    break
                order.append(self._submit(task))
            if not order:
                return
            while order and order[0] in self._done:
                yield self._done.pop(order.popleft())
            if order and order[0] not in self._done:
                self._pump(1.0)

    def _inflight(self) -> int:
        return sum(len(w.inflight) for w in self._workers)

    # -- workers -------------------------------------------------------------

    def _start(self) -> None:
        while len(self._workers) < self.n_workers:
            self._spawn()

    def _spawn(self) -> _Worker:
        worker = _Worker(self._config_frame, self.isolation, self.config.network)
        self._workers.append(worker)
        self._sel.register(worker.rfd, selectors.EVENT_READ, worker)
        return worker

    def _submit(self, task: TraceTask) -> int:
        ticket, self._next = self._next, self._next + 1
        self._tasks[ticket] = task
        worker = min(self._workers, key=lambda w: len(w.inflight))
        if not worker.inflight:
            worker.last_progress = time.monotonic()
        worker.inflight.append(ticket)
        worker.outbuf += frame(TASK, msgspec.msgpack.encode(task))
        self._flush(worker)
        return ticket

    def _flush(self, worker: _Worker) -> None:
        while worker.outbuf:
            try:
                n = os.write(worker.wfd, worker.outbuf)
            except BlockingIOError:
                break
            except BrokenPipeError:
                worker.outbuf.clear()
                break
            del worker.outbuf[:n]

    def _pump(self, timeout: float) -> None:
        for worker in list(self._workers):
            self._flush(worker)
        for key, _ in self._sel.select(timeout):
            worker = key.data
            try:
                chunk = os.read(worker.rfd, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                self._replace(worker, "the trace worker process died")
                continue
            worker.inbuf += chunk
            while (found := take_frame(worker.inbuf)) is not None:
                kind, payload = found
                if kind == TRACE and worker.inflight:
                    ticket = worker.inflight.popleft()
                    self._tasks.pop(ticket)
                    self._done[ticket] = self._decode(payload)
                    worker.last_progress = time.monotonic()
                    worker.answered += 1
                    self._failed_starts = 0
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.inflight and now - worker.last_progress > self._stall:
                self._replace(worker, f"the trace worker stopped answering for {self._stall:g} s")

    def _replace(self, worker: _Worker, why: str) -> None:
        """Fail the tasks a dead or stuck worker held and start a new one in its place."""
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(worker.rfd)
        worker.stop(graceful=False)
        self._workers.remove(worker)
        self.restarts += 1
        if not worker.answered:
            self._failed_starts += 1
            if self._failed_starts > 3:
                raise CwmError(
                    f"trace workers keep dying before their first task ({why}); "
                    f"check that `{shlex.join(worker_command(self.isolation, '/tmp', False))}` "
                    "can start, or set sandbox=process"
                )
        replacement = self._spawn()
        for ticket in worker.inflight:
            task = self._tasks.pop(ticket)
            if ticket == worker.inflight[0]:  # the one it was running
                self._done[ticket] = invalid_trace(task, why, self.backend, outcome="crashed")
            else:  # never started: give it to the new worker
                self._tasks[ticket] = task
                replacement.inflight.append(ticket)
                replacement.outbuf += frame(TASK, msgspec.msgpack.encode(task))
        self._flush(replacement)
