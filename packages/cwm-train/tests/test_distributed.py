"""FSDP2, tensor parallel and both together: real gloo process groups on CPU, launched
with torchrun, against single-process training on the same data."""

import shutil
import subprocess
import sys

import pytest
import torch
from train_fixtures import collatz_dataset, write_documents, write_toml

from cwm.core.checkpoint import load_checkpoint
from cwm.core.config import load_config, merge
from cwm.core.testing import free_port
from cwm.train.config import TrainConfig
from cwm.train.metrics import read_metrics
from cwm.train.trainer import Trainer

STEPS = 5


def config(run_dir, paths, **changes) -> TrainConfig:
    base = {
        "run_dir": str(run_dir),
        "steps": STEPS,
        "model": {"flavor": "debug"},
        "data": {
            "sources": [{"path": str(paths[0]), "weight": 2}, {"path": str(paths[1])}],
            "seq_len": 96,
            "batch_size": 4,
        },
        # a large step size: a wrong gradient shows in the next losses
        "optim": {"lr": 1e-2, "warmup_steps": 1},
        "checkpoint": {"interval": 3, "keep": 5},
        "metrics": {"progress": False},
    }
    return load_config(TrainConfig, preset=merge(base, changes))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    paths = collatz_dataset(root / "collatz"), write_documents(root / "docs.jsonl")
    Trainer(config(root / "single", paths)).run()
    return root, paths


def losses(run_dir) -> list[float]:
    return [r["loss"] for r in read_metrics(run_dir) if "loss" in r]


def torchrun(nproc: int, cfg: TrainConfig, tmp_path) -> subprocess.CompletedProcess:
    port = free_port()  # for the rendezvous
    toml = write_toml(tmp_path / "run.toml", cfg)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        f"--master-port={port}",
        "-m",
        "cwm.train",
        "--config",
        str(toml),
        "--no-progress",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_fsdp_on_two_ranks_matches_one_process(setup, tmp_path):
    root, paths = setup
    done = torchrun(2, config(tmp_path / "fsdp", paths, parallel={"dp": 2}), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert losses(tmp_path / "fsdp") == pytest.approx(losses(root / "single"), abs=1e-4)
    assert losses(root / "single")[-1] < losses(root / "single")[0] - 0.5  # it did learn


def test_muon_under_fsdp_and_tensor_parallel_matches_one_process(setup, tmp_path):
    """Muon orthogonalizes whole matrices: sharded ones give the single-process losses."""
    root, paths = setup
    muon = {"lr": 1e-2, "warmup_steps": 1, "name": "muon"}
    Trainer(config(tmp_path / "single", paths, optim=muon)).run()
    cfg = config(tmp_path / "2d", paths, optim=muon, parallel={"dp": 2, "tp": 2})
    done = torchrun(4, cfg, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert losses(tmp_path / "2d") == pytest.approx(losses(tmp_path / "single"), abs=1e-3)
    assert losses(tmp_path / "single") != pytest.approx(losses(root / "single"), abs=1e-3)


def test_tensor_parallel_resumes_a_one_process_checkpoint(setup, tmp_path):
    """TP with sequence parallel, resharding the single-process step-3 checkpoint (model,
    optimizer, data position) onto 2 ranks; its own checkpoint loads in one process."""
    root, paths = setup
    run = tmp_path / "tp"
    shutil.copytree(
        root / "single" / "checkpoints" / "step-000003", run / "checkpoints" / "step-000003"
    )
    done = torchrun(2, config(run, paths, parallel={"tp": 2}), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == [4, 5]
    assert losses(run) == pytest.approx(losses(root / "single")[3:], abs=1e-4)
    mine = load_checkpoint(run / "checkpoints" / f"step-{STEPS:06d}")
    reference = load_checkpoint(root / "single" / "checkpoints" / f"step-{STEPS:06d}")
    tokens = torch.arange(50)[None]
    with torch.no_grad():
        # Adam turns float-rounding differences of near-zero gradients into small weight ones
        torch.testing.assert_close(mine(tokens), reference(tokens), atol=2e-3, rtol=1e-2)


def test_the_weight_average_reshards_onto_fsdp_ranks(setup, tmp_path):
    """``ema_decay``: a one-process step-3 checkpoint's average (``ema.*``) resumed on 2
    FSDP ranks, kept sharded there, ends where the one-process run's average does."""
    _, paths = setup
    single, run = tmp_path / "single", tmp_path / "fsdp"
    Trainer(config(single, paths, ema_decay=0.5)).run()
    shutil.copytree(single / "checkpoints" / "step-000003", run / "checkpoints" / "step-000003")
    done = torchrun(2, config(run, paths, ema_decay=0.5, parallel={"dp": 2}), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    mine = load_checkpoint(run / "checkpoints" / f"step-{STEPS:06d}")
    reference = load_checkpoint(single / "checkpoints" / f"step-{STEPS:06d}")
    tokens = torch.arange(50)[None]
    with torch.no_grad():
        torch.testing.assert_close(mine(tokens), reference(tokens), atol=2e-3, rtol=1e-2)


def test_fsdp_and_tensor_parallel_together_on_a_2d_mesh(setup, tmp_path):
    root, paths = setup
    cfg = config(
        tmp_path / "2d",
        paths,
        grad_accum=2,
        parallel={"dp": 2, "tp": 2, "activation_checkpointing": True},
    )
    done = torchrun(4, cfg, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert losses(tmp_path / "2d") == pytest.approx(losses(root / "single"), abs=1e-4)


def test_async_tp_is_wired_but_needs_cuda(setup, tmp_path):
    """On CPU the async-tp backend gets as far as the 2-rank TP mesh and stops with a
    one-line error: symmetric memory needs CUDA."""
    _, paths = setup
    cfg = config(
        tmp_path / "atp",
        paths,
        parallel={"tp": 2},
        hardware={"backend": "async-tp", "options": {"base": "cpu"}},
    )
    done = torchrun(2, cfg, tmp_path)
    assert done.returncode != 0
    assert (
        "Error: async-tp needs CUDA GPUs: symmetric memory has no cpu implementation" in done.stderr
    )


def test_a_smear_model_refuses_tensor_parallel_in_one_line(setup, tmp_path):
    _, paths = setup
    cfg = config(
        tmp_path / "smear", paths, model={"flavor": "debug", "smear": True}, parallel={"tp": 2}
    )
    done = torchrun(2, cfg, tmp_path)
    assert done.returncode != 0
    assert "Error: a model with smear does not run tensor parallel yet" in done.stderr


def _join_world(rank: int, port: int, out: str) -> None:
    import os

    import torch.distributed as dist

    from cwm.train.distributed import all_reduce_sum, init_world

    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    joined_first = []

    def device(local_rank: int) -> torch.device:  # what CudaBackend.device does: set_device
        joined_first.append(dist.is_initialized())
        return torch.device("cpu")

    world = init_world("gloo", device)
    total = all_reduce_sum(float(rank + 1), world.device)
    with open(f"{out}/{rank}.txt", "w") as f:
        f.write(f"{joined_first} {world.rank} {world.size} {total}")
    dist.destroy_process_group()


def test_each_process_takes_its_device_before_joining_the_group(tmp_path):
    """A GPU process must set_device before init_process_group (NCCL then binds to it)."""
    port = free_port()
    torch.multiprocessing.spawn(_join_world, args=(port, str(tmp_path)), nprocs=2)
    lines = sorted(p.read_text() for p in tmp_path.glob("*.txt"))
    assert lines == ["[False] 0 2 3.0", "[False] 1 2 3.0"]


def test_gpu_processes_name_their_device_to_the_process_group():
    from cwm.train.distributed import process_group_options

    cuda = torch.device("cuda", 3)
    assert process_group_options(cuda) == {"device_id": cuda}
    assert process_group_options(torch.device("cpu")) == {}
