"""Math answers compared with ``math-verify``, in a worker process with a deadline.

``math-verify`` parses with sympy, which can take unbounded time on a hostile
answer (a tower of powers), and its own timeout works only in a main thread;
the environment runs in worker threads. So checks run in a child process (in
its main thread, where math-verify's timeouts work) and a check past the
deadline kills the child: the answer counts as wrong, the run goes on.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import threading


def _equivalent(gold: str, answer: str) -> bool:
    from math_verify import parse, verify

    want = parse(f"${gold}$") or parse(gold)
    got = parse(f"${answer}$") or parse(answer)
    return bool(want and got and verify(want, got))


class AnswerChecker:
    def __init__(self, deadline: float = 20.0):
        self.deadline = deadline
        self._lock = threading.Lock()
        self._pool: cf.ProcessPoolExecutor | None = None

    def _executor(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                spawn = multiprocessing.get_context("spawn")  # never fork a threaded process
                self._pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=spawn)
            return self._pool

    def equivalent(self, gold: str, answer: str) -> bool | None:
        """Whether ``answer`` equals ``gold``; None when the check ran past the deadline."""
        pool = self._executor()
        future = pool.submit(_equivalent, gold, answer)
        try:
            return future.result(timeout=self.deadline)
        except cf.TimeoutError:
            self._kill(pool)
            return None
        except cf.process.BrokenProcessPool:
            self._kill(pool)
            return None

    def _kill(self, pool: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            for proc in list((pool._processes or {}).values()):
                proc.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            if self._pool is pool:
                self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._kill(self._pool)
