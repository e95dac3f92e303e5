"""Isolated runs: every bad input ends in one clear outcome and never takes the caller down."""

from __future__ import annotations

import os

import msgspec
import pytest
from tracing_helpers import assert_consistent, src

from cwm.data.dataset.config import BuildConfig
from cwm.data.dataset.select import Selector
from cwm.data.trace import TraceConfig, TracePool, TraceTask
from cwm.data.trace.workers.task_process import SCREEN_ANY_RAISE

FAST = TraceConfig(max_seconds=1.0, cpu_seconds=1.0, memory_mb=256, max_output_bytes=100_000)

CASES = {
    # name: (source, call, outcome, what the result or error says)
    "returns": ("def f(x):\n    return [x] * 2\n", "f(3)", "returned", "[3, 3]"),
    "raises": ("def f(x):\n    return {}[x]\n", "f('k')", "raised", "KeyError('k')"),
    "syntax error": ("def f(x)\n    return x\n", "f(1)", "invalid", "syntax error"),
    "missing function": ("def f(x):\n    return x\n", "g(1)", "invalid", "lacks"),
    "unreprable result": (
        "class A:\n    def __repr__(self):\n        raise RuntimeError\n\ndef f():\n    return A()\n",
        "f()",
        "returned",
        "<unreprable A: RuntimeError>",
    ),
    "sys.exit": (
        "import sys\ndef f():\n    sys.exit('bye')\n",
        "f()",
        "raised",
        "SystemExit('bye')",
    ),
    "os._exit": ("import os\ndef f():\n    os._exit(7)\n", "f()", "crashed", "status 7"),
    "segfault": (
        "import ctypes\ndef f():\n    return ctypes.string_at(0)\n",
        "f()",
        "crashed",
        "SIGSEGV",
    ),
    "kills its parent": (
        "import ctypes, os\ndef f():\n    ctypes.CDLL(None).kill(os.getppid(), 9)\n    return 1\n",
        "f()",
        "crashed",
        "died",
    ),
    "endless loop": ("def f():\n    while True:\n        pass\n", "f()", "truncated", "max_steps"),
    "endless C call": (
        "import time\ndef f():\n    time.sleep(60)\n",
        "f()",
        "truncated",
        "max_seconds",
    ),
    "output flood": (
        "def f():\n    while True:\n        print('x' * 1000)\n",
        "f()",
        "truncated",
        "max_output_bytes",
    ),
    "memory hog": (
        "def f():\n    a = []\n    while True:\n        a.append(bytearray(10**7))\n",
        "f()",
        "crashed",
        "out of memory",
    ),
    "network": (
        "import socket\ndef f():\n    return socket.create_connection(('example.com', 80))\n",
        "f()",
        "raised",
        "network access is blocked",
    ),
    "write outside": (
        "def f():\n    open('/tmp/cwm-escape.txt', 'w')\n",
        "f()",
        "raised",
        "only write in its working directory",
    ),
    "subprocess": (
        "import subprocess\ndef f():\n    return subprocess.run(['true'])\n",
        "f()",
        "raised",
        "may not start or signal processes",
    ),
}


@pytest.fixture(scope="module", params=[1, 8], ids=["process-per-task", "shared-process"])
def results(request):
    config = msgspec.structs.replace(FAST, tasks_per_process=request.param)
    tasks = [TraceTask(id=name, source=s, call=c) for name, (s, c, _, _) in CASES.items()]
    tasks.append(TraceTask(id="after", source="def f():\n    return 'still fine'\n", call="f()"))
    with TracePool(config, workers=2) as pool:
        return {t.id: t for t in pool.imap(tasks)}


@pytest.mark.parametrize("name", list(CASES))
def test_each_bad_input_has_one_clear_outcome(results, name):
    _, _, outcome, says = CASES[name]
    trace = results[name]
    assert trace.outcome == outcome, (trace.error, trace.result)
    assert says in (trace.result if outcome in ("returned", "raised") else trace.error)
    if trace.frames:
        assert_consistent(trace)


def test_the_pool_keeps_working_after_every_kind_of_failure(results):
    assert results["after"].outcome == "returned" and results["after"].result == "'still fine'"
    assert results["after"].meta["touched"] == [] == results["returns"].meta["touched"]
    assert not os.path.exists("/tmp/cwm-escape.txt")


def test_a_task_may_write_in_its_own_working_directory():
    task = TraceTask(
        id="w",
        source=src("""
        def f():
            with open('notes.txt', 'w') as out:
                out.write('hi')
            return open('notes.txt').read()
        """),
        call="f()",
    )
    with TracePool(FAST) as pool:
        trace = pool.trace(task)
    assert trace.result == "'hi'" and trace.meta["touched"] == ["fs"]


def test_fresh_process_per_task_isolates_module_state():
    mutate = TraceTask(
        id="a",
        source="import string\ndef f():\n    string.digits = 'x'\n    return 1\n",
        call="f()",
    )
    read = TraceTask(
        id="b", source="import string\ndef f():\n    return string.digits\n", call="f()"
    )
    with TracePool(FAST) as pool:
        assert [t.result for t in pool.imap([mutate, read])] == ["1", "'0123456789'"]


GLOBAL_STATE = [
    # (what task 1 changes, what task 2 computes, task 2's result in a fresh interpreter)
    (
        "import decimal\ndef f():\n    decimal.getcontext().prec = 3\n",
        "from decimal import Decimal\ndef f():\n    return Decimal(1) / Decimal(3)\n",
        "Decimal('0.3333333333333333333333333333')",
    ),
    (
        "import csv\ndef f():\n    csv.field_size_limit(5)\n",
        "import csv\ndef f():\n    return next(csv.reader(['a-long-field']))\n",
        "['a-long-field']",
    ),
    (
        "import builtins\ndef f():\n    builtins.sorted = lambda *a, **k: ['patched']\n",
        "def f():\n    return sorted([3, 1, 2])\n",
        "[1, 2, 3]",
    ),
    (
        "import os\ndef f():\n    os.makedirs('d/e')\n    open('d/e/f', 'w').close()\n"
        "    os.chmod('d/e', 0)\n    os.chmod('d', 0)\n",
        "import os\ndef f():\n    return os.path.exists('d')\n",
        "False",
    ),
    (
        "def f():\n    open('left.txt', 'w').write('x')\n",
        "import os\ndef f():\n    return os.path.exists('left.txt')\n",
        "False",
    ),
]


@pytest.mark.parametrize(
    "change, compute, fresh",
    GLOBAL_STATE,
    ids=["decimal", "csv", "sorted", "locked-directory", "files"],
)
def test_no_task_sees_what_an_earlier_task_changed(change, compute, fresh):
    config = BuildConfig().trace  # what `cwm data build` traces with
    tasks = [
        TraceTask(id="change", source=change, call="f()"),
        TraceTask(id="compute", source=compute, call="f()"),
    ]
    with TracePool(config, workers=1) as pool:  # one worker: the same one runs both
        changed, computed = pool.imap(tasks)
    assert changed.outcome == "returned"
    assert computed.result == fresh and computed.meta["touched"] == []


def test_screening_skips_tracing_only_the_calls_it_screens_out():
    config = BuildConfig().trace  # screens TypeError and the like, as `cwm data build` does
    assert "TypeError" in config.screen
    tasks = [
        TraceTask(id="wrong", source="def f(x):\n    return x + 1\n", call="f('a')"),
        TraceTask(id="invalid", source="def f(x):\n    return x\n", call="g(1)"),
        TraceTask(id="informative", source="def f(x):\n    return {}[x]\n", call="f(1)"),
        TraceTask(id="returns", source="def f(x):\n    y = x * 2\n    return y\n", call="f(2)"),
        TraceTask(
            id="address", source="def f(x):\n    y = [x]\n    return object()\n", call="f(2)"
        ),
    ]
    assert config.screen_addresses
    with TracePool(config, workers=1) as pool:
        wrong, invalid, informative, returns, address = pool.imap(tasks)
    # a result that shows an address is dropped by the build: not traced either
    assert address.meta["screened"] and address.outcome == "returned" and address.frames == []
    assert address.result.startswith("<object object at 0x")
    selector = Selector(BuildConfig())
    assert selector.reason_to_drop(address) == "result shows an address"
    assert selector.reason_to_drop(wrong) == "wrong kind of input"
    assert wrong.meta["screened"] and wrong.outcome == "raised" and wrong.frames == []
    assert wrong.result.startswith("TypeError(")
    assert invalid.meta["screened"] and invalid.outcome == "invalid" and "lacks" in invalid.error
    for traced in (informative, returns):  # traced in a fresh process, as without screening
        assert "screened" not in traced.meta and traced.frames
        assert_consistent(traced)
    assert informative.result == "KeyError(1)" and returns.result == "4"
    unscreened = msgspec.structs.replace(config, screen=[], screen_addresses=False)
    with TracePool(unscreened, workers=1) as pool:
        traced, addressed = pool.imap([tasks[0], tasks[-1]])
    assert traced.frames and traced.result == wrong.result and "screened" not in traced.meta
    assert addressed.frames and "screened" not in addressed.meta
    assert Selector(BuildConfig()).reason_to_drop(addressed) == "result shows an address"


def test_a_full_raised_quota_and_side_effects_are_screened_out_untraced():
    flagged = {SCREEN_ANY_RAISE: True}  # what a build sets once a function's quota is full
    writes = (
        "def f(x):\n    with open('out.txt', 'w') as o:\n        o.write(str(x))\n    return x\n"
    )
    tasks = [
        TraceTask(id="quota", source="def f(x):\n    return {}[x]\n", call="f(1)", meta=flagged),
        TraceTask(
            id="ok", source="def f(x):\n    y = x * 2\n    return y\n", call="f(2)", meta=flagged
        ),
        TraceTask(id="writes", source=writes, call="f(3)"),
        TraceTask(id="after", source="def f(x):\n    y = x + 1\n    return y\n", call="f(1)"),
    ]
    with TracePool(BuildConfig().trace, workers=1) as pool:
        quota, ok, wrote, after = pool.imap(tasks)
    selector = Selector(BuildConfig())
    assert quota.meta["screened"] and quota.frames == [] and quota.result == "KeyError(1)"
    assert selector.reason_to_drop(quota) == "raised quota"
    assert "screened" not in ok.meta and ok.frames and ok.result == "4"  # traced as ever
    assert wrote.meta["screened"] and wrote.meta["touched"] == ["fs"] and wrote.frames == []
    assert selector.reason_to_drop(wrote) == "side effects"
    assert "screened" not in after.meta and after.frames  # the next screener took over


def test_a_call_past_a_limit_untraced_is_screened_out_as_truncated():
    config = BuildConfig().trace
    spins = "def f(n):\n    while n >= 0:\n        n += 1\n    return n\n"
    tasks = [
        TraceTask(id="spins", source=spins, call="f(0)"),
        TraceTask(id="after", source="def f(x):\n    y = x + 1\n    return y\n", call="f(1)"),
    ]
    with TracePool(config, workers=1) as pool:
        spun, after = pool.imap(tasks)
    # traced, it would be stopped at the same limit: it is not traced a second time
    assert spun.meta["screened"] and spun.outcome == "truncated" and spun.frames == []
    assert spun.error.startswith("max_seconds")
    assert Selector(BuildConfig()).reason_to_drop(spun) == "truncated"
    assert "screened" not in after.meta and after.frames and after.result == "2"


def test_the_screener_serves_on_after_reads_and_is_replaced_after_writes():
    config = BuildConfig().trace
    # each task leaves a mark; the next is screened out (TypeError) if it sees one
    leaves = {
        "reads": "import os, string\ndef f(x):\n    string.marked = os.listdir('/')\n    return x\n",
        "writes": "def f(x):\n    with open('mark', 'w') as o:\n        o.write('x')\n    return x\n",
    }
    sees = {
        "reads": "import string\ndef f(x):\n    return x + ('' if hasattr(string, 'marked') else 1)\n",
        "writes": "import os\ndef f(x):\n    return x + ('' if os.path.exists('mark') else 1)\n",
    }
    tasks = [
        TraceTask(id=f"{kind}-{role}", source=source[kind], call="f(1)")
        for kind in ("reads", "writes")
        for role, source in (("leaves", leaves), ("sees", sees))
    ]
    with TracePool(config, workers=1) as pool:
        read, after_read, wrote, after_write = pool.imap(tasks)
    assert read.meta["touched"] == ["fs"] and wrote.meta["touched"] == ["fs"]
    # a read changes nothing the sandbox sees: the same screening process serves on (its
    # state decides only what is traced, and the screened-out task is never traced)
    assert after_read.meta["screened"] and after_read.result.startswith("TypeError(")
    # a write ends it, and its working directory is emptied: the next task sees no file
    assert "screened" not in after_write.meta and after_write.result == "2"


def test_a_killed_pools_directories_are_removed_by_the_next_pool():
    import signal
    import subprocess
    import sys
    import tempfile

    from cwm.data.trace.workers.orphans import base_prefix

    tmp = tempfile.gettempdir()
    # a pool in another process, killed (SIGKILL) while it is running: it cannot clean up
    script = (
        "from cwm.data.trace import TracePool, TraceConfig, TraceTask\n"
        "pool = TracePool(TraceConfig(sandbox='process'), workers=1)\n"
        "list(pool.imap([TraceTask(id='a', source='def f(x):\\n    return x\\n', call='f(1)')]))\n"
        "print('traced', flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "traced"
        left = [p for p in os.listdir(tmp) if p.startswith(base_prefix(child.pid))]
        assert left, "the running pool has a worker directory"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with TracePool(TraceConfig(sandbox="process"), workers=1) as pool:  # the next pool
        assert not any(p.startswith(base_prefix(child.pid)) for p in os.listdir(tmp))
        list(pool.imap([TraceTask(id="b", source="def f(x):\n    return x\n", call="f(2)")]))
        mine = [p for p in os.listdir(tmp) if p.startswith(base_prefix())]
        assert mine
        TracePool(TraceConfig(sandbox="process"), workers=1).close()  # one more pool
        assert all(os.path.isdir(os.path.join(tmp, p)) for p in mine)  # a live pool's stay
