"""The native checkpoint (torch DCP + cwm_model.json): round trips, trainer extras, resharding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

torch = pytest.importorskip("torch")

from model_shapes import small_config  # noqa: E402

from cwm.core.checkpoint import detect_format, load_checkpoint, native, save_checkpoint  # noqa: E402
from cwm.core.checkpoint.dcp_io import save as dcp_save  # noqa: E402
from cwm.core.errors import CwmError  # noqa: E402
from cwm.core.model import build_model  # noqa: E402
from cwm.core.testing import free_port  # noqa: E402

WORKER = Path(__file__).with_name("dcp_worker.py")


def test_round_trip_in_bf16(tmp_path: Path) -> None:
    model = build_model(small_config(0), dtype=torch.bfloat16, seed=0)
    save_checkpoint(model, tmp_path)
    assert detect_format(tmp_path) == "native"
    doc = json.loads((tmp_path / native.CONFIG).read_text())
    assert doc["format"] == "cwm-native" and doc["version"] == 1 and doc["dtype"] == "bfloat16"
    assert msgspec.convert(doc["model"], type(model.config)) == model.config
    loaded = load_checkpoint(tmp_path)
    assert loaded.config == model.config
    for name, tensor in model.state_dict().items():
        assert loaded.state_dict()[name].dtype == torch.bfloat16
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert load_checkpoint(tmp_path, dtype=torch.float32).output.weight.dtype == torch.float32


def test_a_trainer_checkpoint_with_optimizer_state_loads(tmp_path: Path) -> None:
    """The trainer saves model and optimizer in one DCP; the model loader takes its part."""
    model = build_model(small_config(1), seed=1)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 4, dtype=torch.long)).sum().backward()
    optimizer.step()
    dcp_save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 1}, tmp_path
    )
    native.write_config(tmp_path, model.config, torch.float32)
    loaded = load_checkpoint(tmp_path, attention="flex")
    assert loaded.config.attention == "flex" and loaded.backend.name == "flex"
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("data")
    with pytest.raises(CwmError, match="exists and is not empty"):
        save_checkpoint(build_model(small_config(0)), tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "data"


def test_unknown_directories_and_newer_versions_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CwmError, match="not a CWM checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / native.CONFIG).write_text(json.dumps({"format": "cwm-native", "version": 99}))
    with pytest.raises(CwmError, match="upgrade cwm-core"):
        load_checkpoint(tmp_path)


def _run_two_ranks(mode: str, directory: Path, config_json: str) -> None:
    port = str(free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), mode, str(directory), config_json],
            env={
                **os.environ,
                "RANK": str(rank),
                "WORLD_SIZE": "2",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": port,
                "OMP_NUM_THREADS": "1",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    for rank, (proc, out) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"rank {rank} ({mode}) failed:\n{out[-3000:]}"


def test_resharding_between_two_gloo_ranks_and_one_process(tmp_path: Path) -> None:
    config = small_config(2, n_layers=2, dim=48, n_heads=4, n_kv_heads=2)
    config_json = msgspec.json.encode(config).decode()
    # FSDP-sharded over 2 ranks -> one process
    _run_two_ranks("save", tmp_path / "from_two", config_json)
    single = load_checkpoint(tmp_path / "from_two")
    reference = build_model(config, seed=7)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(single.state_dict()[name], tensor), name
    # one process -> FSDP-sharded over 2 ranks (checked inside each rank)
    save_checkpoint(reference, tmp_path / "from_one")
    _run_two_ranks("load", tmp_path / "from_one", config_json)
