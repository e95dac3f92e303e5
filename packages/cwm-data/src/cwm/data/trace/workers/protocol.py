"""Framed messages between the pool, its workers and their task processes.

A frame is one kind byte, a 4-byte little-endian length and a msgpack payload.
"""

from __future__ import annotations

import os
import struct

HEAD = struct.Struct("<cI")
CONFIG, TASK, HEADER, TRACE = b"C", b"K", b"H", b"T"
LAST_TRACE = b"X"  # a trace after which the task process exits
PASS = b"P"  # a screening process lets the task through (payload: whether it exits now)


def frame(kind: bytes, payload: bytes) -> bytes:
    return HEAD.pack(kind, len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def take_frame(buf: bytearray) -> tuple[bytes, bytes] | None:
    """Remove and return the first complete frame of ``buf``, if there is one."""
    if len(buf) < HEAD.size:
        return None
    kind, size = HEAD.unpack_from(buf, 0)
    if len(buf) < HEAD.size + size:
        return None
    payload = bytes(buf[HEAD.size : HEAD.size + size])
    del buf[: HEAD.size + size]
    return kind, payload


def read_frame(fd: int, buf: bytearray) -> tuple[bytes, bytes] | None:
    """Block until one frame is in ``buf`` (reading ``fd``); None at end of file."""
    while True:
        found = take_frame(buf)
        if found is not None:
            return found
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        buf += chunk
