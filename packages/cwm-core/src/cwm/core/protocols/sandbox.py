"""What a ``sandbox`` plugin's factory returns: a backend that starts sandboxes."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class ExecResultLike(Protocol):
    @property
    def exit_code(self) -> int | None: ...  # None: the command did not finish
    @property
    def output(self) -> str: ...  # stdout and stderr together
    @property
    def timed_out(self) -> bool: ...


@runtime_checkable
class Sandbox(Protocol):
    """A private copy of a repository at ``workdir`` where commands run; ``close()``
    removes everything it made."""

    workdir: str

    def exec(self, argv: list[str], *, timeout: float | None = None) -> ExecResultLike: ...

    def run(self, command: str, *, timeout: float | None = None) -> ExecResultLike: ...

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class SandboxBackend(Protocol):
    """Builds an image holding a prepared repository (a Docker tag, a directory) and
    starts sandboxes from it."""

    name: str

    def build_repo_image(self, repo: Any) -> str: ...

    def start(self, image: str) -> Sandbox: ...
