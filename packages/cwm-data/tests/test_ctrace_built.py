"""The C recorder is built with the package, and is what tracing uses by default.

A build that lost the extension (a broken setuptools configuration, a compile
error) fails here rather than quietly tracing with the Python recorder and
skipping the comparisons in test_accelerate. On a machine without a C compiler
set ``CWM_NO_CTRACE=1`` to skip this check.
"""

from __future__ import annotations

import os

import pytest

from cwm.core.errors import CwmError
from cwm.data.trace import TraceConfig, TraceTask, trace_in_process
from cwm.data.trace.accel import MISSING, recorder_name, use_c


@pytest.mark.skipif(bool(os.environ.get("CWM_NO_CTRACE")), reason="CWM_NO_CTRACE: no compiler")
def test_the_c_recorder_is_built_and_used_by_default():
    assert MISSING is None
    assert recorder_name(TraceConfig().accelerate) == "c"
    assert use_c("c") and not use_c("python")


def test_a_bad_accelerate_value_is_a_clear_error():
    with pytest.raises(CwmError, match="unknown accelerate"):
        use_c("fast")
    task = TraceTask(id="t", source="def f():\n    return 1\n", call="f()")
    with pytest.raises(CwmError, match="unknown accelerate"):
        trace_in_process(task, TraceConfig(accelerate="fast"))
