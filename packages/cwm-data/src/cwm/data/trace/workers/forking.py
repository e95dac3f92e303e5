"""Forking a child of a trace worker or fork server: it runs one function, then exits."""

from __future__ import annotations

import gc
import os
import traceback
from collections.abc import Callable, Iterable


def fork_child(run: Callable[[], None], close: Iterable[int], status: int) -> int:
    """Fork a child that closes the descriptors ``close`` (the parent's ends and other
    children's), calls ``run`` and exits with ``status``; an exception's traceback goes to
    its descriptor 2 (which a crash report quotes). The child's pid."""
    gc.freeze()  # the child then leaves the parent's objects (and memory pages) alone
    pid = os.fork()
    if pid == 0:
        try:
            for fd in close:
                os.close(fd)
            run()
        except BaseException:
            os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(status)
    return pid
