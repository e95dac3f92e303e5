"""The ``tensorboard`` logger: event files in ``RUN/tensorboard/`` (``tensorboard --logdir RUN``).

Written with TensorBoard's own event-file writer and protos, so it needs only
the ``tensorboard`` package (the ``cwm-core[tensorboard]`` extra), not torch or
TensorFlow. Scalars, the resolved config as text and as hparams, histograms.
A resumed run writes a new event file; TensorBoard shows the steps after the
resumed one from the newest file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cwm.core.errors import CwmError
from cwm.core.loggers.base import Scalar, flatten, scalars

SUBDIR = "tensorboard"


def _import() -> Any:
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import metadata as hparams
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise CwmError(
            "the tensorboard logger needs the tensorboard package: "
            "pip install 'cwm-core[tensorboard]'"
        ) from None
    return event_pb2, summary_pb2, hparams, EventFileWriter


class TensorBoardLogger:
    def __init__(self, run_dir: Path | str, resume_step: int = 0, **_: Any):
        self._event, self._summary, self._hparams, writer = _import()
        self.logdir = Path(run_dir) / SUBDIR
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._writer = writer(str(self.logdir))

    def _emit(self, step: int, value: Any) -> None:
        summary = self._summary.Summary(value=[value] if not isinstance(value, list) else value)
        self._writer.add_event(self._event.Event(wall_time=time.time(), step=step, summary=summary))

    def log(self, step: int, metrics: Mapping[str, Scalar]) -> None:
        values = [
            self._summary.Summary.Value(tag=k, simple_value=v) for k, v in scalars(metrics).items()
        ]
        if values:
            self._emit(step, values)

    def log_config(self, config: Mapping[str, Any]) -> None:
        text = "```json\n" + json.dumps(config, indent=2, default=str) + "\n```"
        meta = self._summary.SummaryMetadata(
            plugin_data=self._summary.SummaryMetadata.PluginData(plugin_name="text")
        )
        tensor = _string_tensor(text)
        self._emit(0, self._summary.Summary.Value(tag="config", metadata=meta, tensor=tensor))
        # hparams take numbers, strings and bools only; lists are shown as their JSON text
        hparams = {
            k: v if isinstance(v, bool | int | float | str) else json.dumps(v)
            for k, v in flatten(config).items()
            if v is not None
        }
        self._emit(0, _hparams_value(self._hparams, hparams))

    def log_histogram(self, step: int, name: str, values: Sequence[float]) -> None:
        if not values:
            return
        self._emit(step, self._summary.Summary.Value(tag=name, histo=_histogram(values)))

    def close(self) -> None:
        self._writer.close()


def _string_tensor(text: str) -> Any:
    from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2

    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        string_val=[text.encode()],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[]),
    )


def _hparams_value(metadata: Any, hparams: dict[str, Any]) -> Any:
    """The HParams plugin's session-start summary (TensorBoard's own helper needs TensorFlow)."""
    from google.protobuf import struct_pb2
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import plugin_data_pb2

    def value(v: Any) -> Any:
        if isinstance(v, bool):
            return struct_pb2.Value(bool_value=v)
        if isinstance(v, int | float):
            return struct_pb2.Value(number_value=v)
        return struct_pb2.Value(string_value=v)

    info = plugin_data_pb2.SessionStartInfo(hparams={k: value(v) for k, v in hparams.items()})
    data = plugin_data_pb2.HParamsPluginData(session_start_info=info)
    return summary_pb2.Summary.Value(
        tag=metadata.SESSION_START_INFO_TAG, metadata=metadata.create_summary_metadata(data)
    )


def _histogram(values: Sequence[float], bins: int = 30) -> Any:
    """TensorBoard's HistogramProto of ``values``: equal-width buckets over their range."""
    from tensorboard.compat.proto import summary_pb2

    lo, hi = float(min(values)), float(max(values))
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    return summary_pb2.HistogramProto(
        min=lo,
        max=hi,
        num=len(values),
        sum=float(sum(values)),
        sum_squares=float(sum(v * v for v in values)),
        bucket_limit=[lo + width * (i + 1) for i in range(bins)],
        bucket=counts,
    )
