"""No container outlives its owner: labels, removal at exit, and a reaper for orphans.

Every container gets labels naming its owner process (host, pid, and the pid's
start time, so a reused pid is not mistaken for the owner). The owner removes
its containers at exit, on SIGTERM and SIGHUP; a SIGKILLed owner cannot, so
`reap` (run whenever a Docker backend starts, and by ``cwm sandbox reap``)
removes containers whose owner is gone.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import threading
import uuid
from typing import Any

LABEL = "cwm.sandbox"
SESSION = uuid.uuid4().hex[:12]  # this process's containers


def _start_time(pid: int) -> str:
    """The pid's start time in clock ticks since boot, or "" when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_labels() -> dict[str, str]:
    pid = os.getpid()
    return {
        LABEL: "1",
        "cwm.owner.host": socket.gethostname(),
        "cwm.owner.pid": str(pid),
        "cwm.owner.start": _start_time(pid),
        "cwm.session": SESSION,
    }


def owner_alive(labels: dict[str, str]) -> bool:
    if labels.get("cwm.owner.host") != socket.gethostname():
        return True  # another machine's container: not ours to judge
    try:
        pid = int(labels.get("cwm.owner.pid", ""))
    except ValueError:
        return False
    started = _start_time(pid)
    return bool(started) and started == labels.get("cwm.owner.start")


def reap(client: Any, *, everything: bool = False) -> list[str]:
    """Remove cwm containers whose owner process is gone (or all of them); returns their ids."""
    removed = []
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        if everything or not owner_alive(container.labels):
            try:
                container.remove(force=True, v=True)  # with its anonymous volumes
                removed.append(container.id)
            except Exception:  # already gone, or being removed by its owner right now
                continue
    return removed


class Tracker:
    """The containers this process owns, removed at exit or on a terminating signal."""

    def __init__(self) -> None:
        self._live: dict[str, Any] = {}  # id -> container
        self._lock = threading.Lock()
        self._installed = False

    def add(self, container: Any) -> None:
        with self._lock:
            self._live[container.id] = container
            if not self._installed:
                self._install()

    def discard(self, container_id: str) -> None:
        with self._lock:
            self._live.pop(container_id, None)

    def remove_all(self) -> None:
        with self._lock:
            live, self._live = list(self._live.values()), {}
        for container in live:
            try:
                container.remove(force=True, v=True)  # with its anonymous volumes
            except Exception:
                continue

    def _install(self) -> None:
        self._installed = True
        atexit.register(self.remove_all)
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.remove_all()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # die as the signal intended


TRACKER = Tracker()
