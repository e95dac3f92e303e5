"""Cutting a process off the network, for code that runs untrusted programs.

The tracer's workers (cwm-data) and the RL environments' program runner (cwm-rl)
both enter a network namespace before running code they did not write. This module
imports nothing heavy: a fresh interpreter imports it before each program.
"""

from __future__ import annotations

import ctypes
import os

_CLONE_NEWNET, _CLONE_NEWUSER = 0x40000000, 0x10000000


def enter_network_namespace() -> bool:
    """Cut this process (and its future children) off the network; False if the kernel refuses."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(_CLONE_NEWNET) == 0:
            return True
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
            return False
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        return True
    except (OSError, AttributeError):
        return False
