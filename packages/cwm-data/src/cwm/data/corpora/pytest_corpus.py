"""The ``pytest`` corpus: traces of a repository's own functions, taken while its test suite runs.

It runs ``python -m pytest`` in the repository with `cwm.data.pytest_plugin`,
tracing the functions of the repository's non-test files (or the globs given),
and yields the traces. The repository's tests and dependencies must be
installed in this Python environment.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from cwm.core.errors import CwmError
from cwm.core.io import read_records
from cwm.core.schemas import Trace

#: test code under a repository root, as exclusions (anchored at the root: a parent
#: directory named test_* must not exclude everything)
_TEST_FILES = [
    "test_*.py",
    "*/test_*.py",
    "*_test.py",
    "tests/*",
    "*/tests/*",
    "test/*",
    "*/test/*",
    "*conftest.py",
]


@dataclass
class PytestCorpus:
    path: Path
    functions: list[str] = field(
        default_factory=list
    )  # globs; default: the repository's non-test code
    max_per_function: int = 20
    pytest_args: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)  # tracer KEY=VALUE settings
    progress: bool = True

    @property
    def name(self) -> str:
        return f"pytest:{self.path.name}"

    def tasks(self) -> Iterator[Trace]:
        root = self.path.resolve()
        if not root.is_dir():
            raise CwmError(f"pytest corpus: {self.path} is not a directory")
        globs = self.functions or [f"{root}/*", *(f"!{root}/{g}" for g in _TEST_FILES)]
        with tempfile.TemporaryDirectory(prefix="cwm-pytest-") as tmp:
            out = Path(tmp) / "traces.jsonl"
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "cwm.data.pytest_plugin",
                "-p",
                "no:cacheprovider",
                "-q",
                "--cwm-trace-out",
                str(out),
                "--cwm-trace-max",
                str(self.max_per_function),
            ]
            for glob in globs:
                cmd += ["--cwm-trace", glob]
            for setting in self.settings:
                cmd += ["--cwm-trace-set", setting]
            if self.progress:
                print(f"cwm: running the test suite of {root} with tracing", file=sys.stderr)
            done = subprocess.run(
                [*cmd, *self.pytest_args], cwd=root, capture_output=True, text=True, check=False
            )
            if (
                done.returncode not in (0, 1, 5) or not out.exists()
            ):  # 1: some tests failed; 5: none ran
                tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
                raise CwmError(
                    f"pytest in {root} failed (exit {done.returncode}): {' | '.join(tail)}"
                )
            for trace in read_records(out, Trace, on_error="skip"):
                meta = {**trace.meta, "corpus": self.name, "inputs": "test suite"}
                yield msgspec.structs.replace(trace, meta=meta)
