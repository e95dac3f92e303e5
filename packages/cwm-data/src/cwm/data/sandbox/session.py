"""A persistent bash session over a `Channel`: state (cwd, variables) carries across commands.

Each command is written to a file in the sandbox's scratch directory through a
quoted heredoc and ``source``d with stdin from /dev/null, so a command that
reads stdin, has a syntax error or an unclosed quote cannot swallow the
protocol. After it, the shell prints a sentinel carrying ``$?`` and a random
nonce that the command never sees. Output beyond ``max_output`` bytes keeps its
head and tail. A command past its timeout is killed with its whole process
group; like a command that ends the shell (``exit``), the session then starts
afresh in the repository root on the next command.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

from cwm.data.sandbox.base import Channel, ExecResult

_TAIL = 4096  # bytes kept at the end of long output, enough to hold the sentinel


class BashSession:
    def __init__(
        self,
        open_channel: Callable[[], Channel],
        *,
        scratch: str = "/tmp",
        timeout: float = 60.0,
        max_output: int = 100_000,
    ):
        self._open = open_channel
        self.scratch, self.timeout, self.max_output = scratch, timeout, max_output
        self._channel: Channel | None = None
        self._started = 0  # bash processes started
        self._id = secrets.token_hex(4)  # names the file each command is written to

    def _ensure(self) -> Channel:
        if self._channel is None:
            self._channel = self._open()
            self._started += 1
        return self._channel

    @property
    def restarts(self) -> int:
        """Sessions started after the first one."""
        return max(0, self._started - 1)

    def run(self, command: str, *, timeout: float | None = None) -> ExecResult:
        """Run ``command`` (any bash text, multi-line included) and return its output and exit code."""
        channel = self._ensure()
        nonce = secrets.token_hex(8)
        path = f"{self.scratch}/.cwm-cmd-{self._id}"
        eof = f"CWM_EOF_{nonce}"
        body = command if command.endswith("\n") else command + "\n"
        # builtins only (read, printf, source): no process is forked around the command
        script = (
            f"IFS= read -r -d '' __cwm_cmd <<'{eof}'\n{body}{eof}\n"
            f"printf '%s' \"$__cwm_cmd\" > {path}; unset __cwm_cmd\n"
            f"source {path} < /dev/null\n"
            f"printf '\\n__CWM_{nonce}_%d__\\n' \"$?\"\n"
        )
        sentinel = re.compile(rb"\n__CWM_" + nonce.encode() + rb"_(-?\d+)__\n")
        try:
            channel.send(script.encode())
        except OSError:
            return self._died(bytearray(), 0, "the session had ended; a fresh one has started")
        return self._read(channel, sentinel, timeout if timeout is not None else self.timeout)

    def _read(self, channel: Channel, sentinel: re.Pattern[bytes], timeout: float) -> ExecResult:
        buf, dropped = bytearray(), 0
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                note = (
                    f"the command timed out after {timeout:g} s and was interrupted; "
                    "a fresh session has started"
                )
                return self._died(buf, dropped, note, timed_out=True)
            data = channel.recv(min(left, 1.0))
            if data is None:
                continue
            if data == b"":
                self._kill()
                note = "the session ended (the shell exited); a fresh session has started"
                return self._died(buf, dropped, note)
            buf += data
            if len(buf) > self.max_output + _TAIL:  # keep the head and a tail window
                cut = len(buf) - _TAIL
                dropped += cut - self.max_output
                del buf[self.max_output : cut]
            # nothing follows the sentinel, so it always lies in the last _TAIL bytes
            m = sentinel.search(buf, max(0, len(buf) - _TAIL))
            if m is not None:
                return ExecResult(
                    exit_code=int(m.group(1)),
                    output=self._text(buf[: m.start()], dropped),
                    truncated=dropped > 0,
                )

    def _text(self, out: bytearray, dropped: int) -> str:
        if not dropped:
            return out.decode(errors="replace")
        head, tail = out[: self.max_output], out[self.max_output :]
        return (
            head.decode(errors="replace")
            + f"\n[... {dropped} bytes of output omitted ...]\n"
            + tail.decode(errors="replace")
        )

    def _died(
        self, out: bytearray, dropped: int, note: str, *, timed_out: bool = False
    ) -> ExecResult:
        text = self._text(out, dropped)
        text = f"{text}\n[{note}]" if text else f"[{note}]"
        return ExecResult(
            exit_code=None, output=text, timed_out=timed_out, truncated=dropped > 0, restarted=True
        )

    def _kill(self) -> None:
        if self._channel is not None:
            try:
                self._channel.kill()
            finally:
                self._channel = None

    def cwd(self) -> str:
        """The session's current directory."""
        result = self.run("pwd")
        return result.output.strip() if result.ok else ""

    def close(self) -> None:
        self._kill()
