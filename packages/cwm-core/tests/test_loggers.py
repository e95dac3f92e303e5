"""Logger plugins: what each backend wrote, read back with that backend's own reader."""

import json
import struct
from pathlib import Path

import pytest

from cwm.core.errors import CwmError
from cwm.core.loggers import LoggingConfig, open_loggers, read_metrics
from cwm.core.plugins import UnknownPluginError

STEPS = [(1, {"loss": 2.5, "lr": 1e-3}), (2, {"loss": 2.0, "lr": 9e-4}), (4, {"loss": 1.5})]
CONFIG = {"steps": 4, "optim": {"lr": 1e-3, "betas": [0.9, 0.95]}, "name": "t"}


def write_run(run: Path, backends: list[str]) -> None:
    loggers = open_loggers(LoggingConfig(backends=backends), run)
    loggers.log_config(CONFIG)
    for step, metrics in STEPS:
        loggers.log(step, {**metrics, "note": "text is skipped", "missing": None})
    loggers.log_histogram(4, "staleness", [0, 0, 1, 2, 2, 2])
    loggers.close()


def expected(name: str) -> list[tuple[int, float]]:
    return [(s, m[name]) for s, m in STEPS if name in m]


def test_jsonl_is_the_default_and_keeps_the_format(tmp_path):
    write_run(tmp_path, LoggingConfig().backends)
    records = read_metrics(tmp_path)
    assert [(r["step"], r["loss"]) for r in records] == expected("loss")
    assert records[0]["note"] == "text is skipped"  # jsonl keeps everything, as before


def test_jsonl_resume_drops_the_lines_after_the_resumed_step(tmp_path):
    write_run(tmp_path, ["jsonl"])
    resumed = open_loggers(LoggingConfig(), tmp_path, resume_step=2)
    resumed.log(3, {"loss": 1.7})
    resumed.close()
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3]


def test_tensorboard_reads_back_with_tensorboards_event_reader(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    write_run(tmp_path, ["jsonl", "tensorboard"])
    events = EventAccumulator(
        str(tmp_path / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0}
    )
    events.Reload()
    for name in ("loss", "lr"):
        got = [(e.step, pytest.approx(e.value)) for e in events.Scalars(name)]  # float32
        assert got == expected(name)
        assert got == [(r["step"], r[name]) for r in read_metrics(tmp_path) if name in r]
    histo = events.Histograms("staleness")[0]
    assert (histo.step, histo.histogram_value.num, histo.histogram_value.max) == (4, 6, 2)
    text = events.Tensors("config")[0].tensor_proto.string_val[0].decode()
    assert json.loads(text.strip("`\njson")) == CONFIG


def wandb_history(run: Path) -> list[dict]:
    """The history records of an offline W&B run, decoded from its transaction log
    (LevelDB-style 32 KiB blocks of chunks, each a wandb ``Record`` protobuf)."""
    from wandb.proto import wandb_internal_pb2 as pb

    (log,) = run.glob("wandb/offline-run-*/run-*.wandb")
    data, pos, records, pending = log.read_bytes(), 7, [], b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            break
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = pb.Record()
            record.ParseFromString(pending)
            if record.WhichOneof("record_type") == "history":
                records.append(
                    {
                        i.key or "/".join(i.nested_key): json.loads(i.value_json)
                        for i in record.history.item
                    }
                )
    return records


def test_wandb_offline_run_reads_back(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    write_run(tmp_path, ["jsonl", "wandb"])
    history = wandb_history(tmp_path)
    for name in ("loss", "lr"):
        got = [(h["_step"], pytest.approx(h[name])) for h in history if name in h]
        assert got == expected(name)
        assert got == [(r["step"], r[name]) for r in read_metrics(tmp_path) if name in r]
    (histo,) = [h for h in history if "staleness/_type" in h]
    assert histo["staleness/_type"] == "histogram" and sum(histo["staleness/values"]) == 6


def test_unknown_backend_names_the_installed_ones(tmp_path):
    with pytest.raises(UnknownPluginError, match="unknown logger 'mlflow'; installed: jsonl"):
        open_loggers(LoggingConfig(backends=["jsonl", "mlflow"]), tmp_path)
    assert not (tmp_path / "metrics.jsonl").exists()  # nothing opened before the check


def test_inactive_ranks_write_nothing(tmp_path):
    loggers = open_loggers(LoggingConfig(backends=["jsonl"]), tmp_path, active=False)
    loggers.log(1, {"loss": 1.0})
    loggers.close()
    assert not any(tmp_path.iterdir())


def test_missing_optional_backend_says_how_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(CwmError, match=r"pip install 'cwm-core\[wandb\]'"):
        open_loggers(LoggingConfig(backends=["wandb"]), tmp_path)
