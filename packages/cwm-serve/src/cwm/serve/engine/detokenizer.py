"""Incremental text of a sequence's output, and stop strings.

Text grows token by token (a UTF-8 character split over tokens waits for its
last byte). A stop string ends the text where it starts; while the end of the
text could still be the start of a stop string, that tail is held back from
streaming, so a client never sees text that a stop later takes away.
"""

from __future__ import annotations

import codecs

from cwm.core.tokenizer import Tokenizer


class Detokenizer:
    def __init__(self, tokenizer: Tokenizer, stop: list[str]):
        self.tokenizer, self.stop = tokenizer, stop
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""  # all text so far (cut at a stop string once one matched)
        self.sent = 0  # characters already handed out as deltas
        self.stopped = False

    def add(self, token: int, *, visible: bool = True) -> None:
        """Append one token's text (a stop token is not ``visible``); check the stops."""
        if self.stopped or not visible:
            return
        start = len(self.text)
        self.text += self.decoder.decode(self.tokenizer.decode_bytes([token]))
        longest = max((len(s) for s in self.stop), default=0)
        window_start = max(0, start - longest + 1)
        hits = [i for s in self.stop if (i := self.text.find(s, window_start)) != -1]
        if hits:
            self.text = self.text[: min(hits)]
            self.stopped = True

    def _held(self) -> int:
        """Characters at the end that may be the beginning of a stop string."""
        if self.stopped:
            return 0
        for n in range(min(len(self.text), max((len(s) for s in self.stop), default=1) - 1), 0, -1):
            tail = self.text[-n:]
            if any(s.startswith(tail) for s in self.stop):
                return n
        return 0

    def delta(self, *, final: bool = False) -> str:
        """Text not handed out yet (at the end of the sequence, all of it)."""
        if final and not self.stopped:
            self.text += self.decoder.decode(b"", final=True)  # a cut character shows as U+FFFD
        end = len(self.text) if final else len(self.text) - self._held()
        if end <= self.sent:
            return ""
        out, self.sent = self.text[self.sent : end], end
        return out
