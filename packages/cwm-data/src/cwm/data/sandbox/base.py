"""What every sandbox offers: one-shot commands, files, and a persistent bash session.

A `SandboxBackend` turns a prepared repository into an *image* (a Docker image
tag, or a directory for the local backend) and starts `Sandbox`es from it. A
sandbox is a private copy of the repository at ``workdir`` in which commands
run; closing it removes everything it made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

if TYPE_CHECKING:
    from cwm.data.sandbox.repo import PreparedRepo
    from cwm.data.sandbox.session import BashSession


class ExecResult(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one command."""

    exit_code: int | None  # None when the command did not finish (timeout, session died)
    output: str  # stdout and stderr together, possibly truncated
    timed_out: bool = False
    truncated: bool = False  # the middle of the output was dropped
    restarted: bool = False  # the bash session died or was killed and will start afresh

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Channel(Protocol):
    """A running ``bash`` process with merged stdout/stderr, as a persistent session uses it."""

    def send(self, data: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes | None:
        """Bytes read within ``timeout`` seconds; ``None`` if none came, ``b""`` at end of stream."""
        ...

    def kill(self) -> None:
        """Kill the shell and everything it started."""
        ...


class Sandbox(ABC):
    """A private copy of a repository where commands run."""

    workdir: str  # repository root inside the sandbox
    scratch: str  # a private directory for tool files, outside the repository

    def __init__(self) -> None:
        self._session: BashSession | None = None
        self.session_options: dict[str, Any] = {}

    @abstractmethod
    def exec(self, argv: list[str], *, timeout: float | None = None) -> ExecResult:
        """Run ``argv`` in a fresh process in ``workdir``."""

    def run(self, command: str, *, timeout: float | None = None) -> ExecResult:
        """Run a shell command line with ``bash -c`` in a fresh process."""
        return self.exec(["bash", "-c", command], timeout=timeout)

    @abstractmethod
    def read_file(self, path: str) -> bytes:
        """The bytes of ``path`` (absolute, inside the sandbox); `FileNotFoundError` if missing."""

    @abstractmethod
    def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        """Write ``path``; keeps the mode of an existing file unless ``mode`` is given."""

    @abstractmethod
    def open_channel(self) -> Channel:
        """Start a new ``bash`` process in ``workdir`` for a persistent session."""

    @property
    def session(self) -> BashSession:
        """The persistent bash session, started on first use."""
        if self._session is None:
            from cwm.data.sandbox.session import BashSession

            self._session = BashSession(
                self.open_channel, scratch=self.scratch, **self.session_options
            )
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class SandboxBackend(ABC):
    """Builds repository images and starts sandboxes from them."""

    name: str

    @abstractmethod
    def build_repo_image(self, repo: PreparedRepo) -> str:
        """The image holding ``repo`` and its installed dependencies (built once, then cached)."""

    @abstractmethod
    def start(self, image: str) -> Sandbox:
        """A new sandbox from ``image``."""
