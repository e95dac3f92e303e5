"""What the packages' own tests share: the dependency direction holds in practice, a
free port on 127.0.0.1 for the processes they start, and which precision attention
runs in."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def sdpa_query_dtypes() -> Iterator[list[Any]]:
    """The query dtype of every ``torch.nn.functional.scaled_dot_product_attention`` call
    made inside the block (the CPU attention paths call it through that name)."""
    import torch.nn.functional as F

    seen: list[Any] = []
    real = F.scaled_dot_product_attention

    def spy(q: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(q.dtype)
        return real(q, *args, **kwargs)

    F.scaled_dot_product_attention = spy
    try:
        yield seen
    finally:
        F.scaled_dot_product_attention = real


_PROBE = """
import importlib, json, pkgutil, sys
root = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(getattr(root, "__path__", []), root.__name__ + "."):
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as exc:  # an optional extra (torch, openai) is not installed
        if exc.name is None or exc.name.startswith("cwm"):
            raise
loaded = {m for m in sys.modules if m.startswith("cwm.")}
print(json.dumps(sorted({".".join(m.split(".")[:2]) for m in loaded} | {m.split(".")[0] for m in sys.modules})))
"""


def modules_loaded_by(package: str) -> set[str]:
    """Import ``package`` and all its submodules in a fresh interpreter; return what got loaded.

    Submodules that need a third-party package that is not installed (an
    optional extra such as torch) are skipped; a missing cwm package is an error.

    The answer holds top-level module names (``torch``, ``docker``) and cwm
    subpackages (``cwm.core``, ``cwm.data``).
    """
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, package], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise AssertionError(f"importing {package} failed:\n{result.stderr}")
    return set(json.loads(result.stdout))


def cwm_packages_loaded_by(package: str) -> set[str]:
    return {m for m in modules_loaded_by(package) if m.startswith("cwm.")}
