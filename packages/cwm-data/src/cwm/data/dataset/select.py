"""Which traces make it into a dataset: filters, quotas per function, exact and near-duplicate removal.

A trace is kept when the call ran to its end in bounded time (returned, or
raised one of the "meaningful" exceptions, within a quota), touched no files,
network or processes, has at least ``min_frames`` frames and a result that
does not depend on memory addresses; and when it is neither an exact nor a
near duplicate of a trace already kept. Near duplicates are judged within one
function: the Jaccard similarity of the sets of frame fingerprints (a frame's
event, line and changed values, addresses blanked out).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict

import msgspec

from cwm.core.schemas import CallFrame, LineFrame, Trace
from cwm.data.dataset.config import UNINFORMATIVE, BuildConfig
from cwm.data.trace.reprs import shows_address

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def function_of(trace: Trace) -> str:
    return str(trace.meta.get("function") or trace.entry or trace.id)


def fingerprints(trace: Trace) -> set[int]:
    """One hash per frame: its kind, line, and the values that changed (addresses blanked)."""
    out, previous = set(), {}
    for frame in trace.frames:
        if isinstance(frame, CallFrame | LineFrame):
            changed = {k: v for k, v in frame.locals.items() if previous.get(k) != v}
            previous = frame.locals
            text = f"{type(frame).__name__}|{frame.line}|{sorted(changed.items())}"
        else:
            text = f"{type(frame).__name__}|{frame.line}|{frame.value}"  # type: ignore[union-attr]
        out.add(hash(_ADDRESS.sub(" at 0x", text)))
    return out


def exact_key(trace: Trace) -> bytes:
    body = msgspec.json.encode([trace.source, trace.call, trace.frames, trace.result])
    return hashlib.sha1(_ADDRESS.sub(" at 0x", body.decode()).encode()).digest()


class Selector:
    """Decides trace by trace; ``kept`` holds the dataset so far."""

    def __init__(self, config: BuildConfig):
        self.config = config
        self.kept: list[Trace] = []
        self.calls: dict[str, list[str]] = defaultdict(list)  # function -> kept calls
        self.raised: Counter[str] = Counter()
        self.prints: dict[str, list[set[int]]] = defaultdict(list)
        self.exact: set[bytes] = set()
        self.dropped: Counter[str] = Counter()
        self.raised_quota = max(1, int(config.per_function * config.max_raised_fraction))

    def reason_to_drop(self, trace: Trace) -> str | None:
        if trace.meta.get("screened"):  # screened out untraced (`TraceConfig.screen`)
            if trace.meta.get("touched"):
                return "side effects"
            if trace.outcome == "returned":  # else only these (`screen_addresses`)
                return "result shows an address"
            if trace.outcome == "raised":  # an informative one only when the quota was full
                return "wrong kind of input" if _raised(trace) in UNINFORMATIVE else "raised quota"
            return trace.outcome
        if trace.outcome not in ("returned", "raised"):
            return trace.outcome
        if trace.meta.get("touched"):
            return "side effects"
        if len(trace.frames) < self.config.min_frames:
            return "too short"
        if shows_address(trace.result):
            return "result shows an address"
        if trace.outcome == "raised":
            if _raised(trace) in UNINFORMATIVE:
                return "wrong kind of input"
            if self.raised_quota_full(function_of(trace)):
                return "raised quota"
        if len(self.calls[function_of(trace)]) >= self.config.per_function:
            return "function quota"
        return None

    def offer(self, trace: Trace) -> bool:
        reason = self.reason_to_drop(trace)
        if reason is None:
            key = exact_key(trace)
            if key in self.exact:
                reason = "exact duplicate"
            else:
                prints = fingerprints(trace)
                function = function_of(trace)
                if any(
                    _jaccard(prints, other) >= self.config.near_duplicate
                    for other in self.prints[function]
                ):
                    reason = "near duplicate"
        if reason is not None:
            self.dropped[reason] += 1
            return False
        function = function_of(trace)
        self.exact.add(key)
        self.prints[function].append(prints)
        self.calls[function].append(trace.call)
        if trace.outcome == "raised":
            self.raised[function] += 1
        self.kept.append(trace)
        return True

    def raised_quota_full(self, function: str) -> bool:
        """No more traces of ``function`` that raise are kept (so they need not be traced)."""
        return self.raised[function] >= self.raised_quota

    def wanted(self) -> dict[str, int]:
        """Functions with some traces but fewer than ``per_function``: how many more each could take."""
        return {
            f: self.config.per_function - len(c)
            for f, c in self.calls.items()
            if len(c) < self.config.per_function
        }


def _raised(trace: Trace) -> str:
    """The name of the exception a raised trace ended with."""
    return trace.result.split("(")[0].rsplit(".", 1)[-1]


def _jaccard(a: set[int], b: set[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
