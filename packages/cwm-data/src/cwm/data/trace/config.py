"""What a trace records and the limits it runs under.

The defaults run on a laptop; `cwm trace` and `cwm data build` take the same
keys through ``--set`` (e.g. ``--set max_steps=2000``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from cwm.core.config import AtLeast0, AtLeast1, Config, Positive

Scope = Literal["source", "entry"]


class TraceConfig(Config, frozen=True, kw_only=True):
    #: ``auto`` picks ``monitoring`` on Python 3.12+ and ``settrace`` before.
    backend: str = "auto"
    #: which recorder turns events into frames: ``c`` (the compiled extension),
    #: ``python`` (the pure-Python reference), ``auto``: ``c`` when it was built.
    #: Both record identical frames; ``c`` is several times faster.
    accelerate: str = "auto"
    #: ``source``: the entry function and every function of the traced source it
    #: reaches; ``entry``: the entry function's own activation only.
    scope: Scope = "source"
    #: extra code to trace: globs on ``module.qualname`` or on a file path
    #: (``textwrap.*``, ``*/mypkg/*``).
    include: list[str] = []

    max_steps: AtLeast1 = 10_000  # frames recorded
    max_seconds: Positive = 10.0  # wall time of the traced call
    max_trace_bytes: AtLeast1 = 4_000_000  # characters of the frames' text (lines, locals, values)
    max_repr: AtLeast1 = 200  # characters of one local or return/exception value
    max_result_repr: AtLeast1 = 10_000  # characters of Trace.result

    # Isolation (sandboxed runs only: `cwm trace`, `TracePool`, `trace_call(sandbox=True)`).
    memory_mb: AtLeast0 = 1024  # address space a traced task may add to its worker
    cpu_seconds: Positive = 10.0  # CPU time of one task
    max_output_bytes: AtLeast0 = 1_000_000  # what traced code may print before it is stopped
    max_file_bytes: AtLeast0 = 16_000_000  # largest file traced code may write (in its temp dir)
    network: bool = False  # True leaves the network reachable
    #: where workers run: ``bwrap`` (bubblewrap: a read-only view of only the
    #: interpreter and its packages, private /tmp, new PID and network namespaces),
    #: ``process`` (rlimits, audit hooks and a network namespace only), ``auto``:
    #: ``bwrap`` where it runs, else ``process`` with a warning. Each trace's
    #: ``meta.isolation`` says which it ran under.
    sandbox: str = "auto"
    #: tasks one forked process runs. 1 (the default): every task starts from the
    #: worker's pristine interpreter state. More shares a process's global state
    #: (``decimal`` contexts, patched builtins, ...) between its tasks: faster, but a
    #: task can change what the next one records; only for trusted tasks.
    tasks_per_process: AtLeast1 = 1
    #: exception names (``TypeError``, ...): each task's call first runs once,
    #: untraced, in a shared screening process, and a task whose call raises one of
    #: these (or that is invalid, or touches files, processes or the network; any exception
    #: for a task whose meta sets ``screen_any_raise``) is not traced: its record is a
    #: frameless Trace with ``meta.screened``. The rest are traced in a fresh process as usual. For dataset
    #: builds that drop such traces anyway (`cwm data build` sets it); a screening
    #: process's state decides only which tasks are traced, never what a trace records.
    screen: list[str] = []
    #: with ``screen``: also leave untraced a call whose returned value's repr shows a
    #: memory address (``<... at 0x...>``), which dataset builds drop as well
    screen_addresses: bool = False
    #: stdlib modules a worker imports once so tasks need not (speeds up batches)
    preload: list[str] = msgspec.field(
        default_factory=lambda: ["collections", "re", "functools", "itertools", "math", "string"]
    )
