"""Hardware backends: plugins the trainer drives through hooks, never by name."""

import pytest
import torch
from train_fixtures import collatz_dataset

from cwm.core import protocols
from cwm.core.checkpoint import load_checkpoint
from cwm.core.config import load_config, merge
from cwm.core.errors import CwmError
from cwm.core.plugins import registry
from cwm.train.backends.base import HardwareBackend
from cwm.train.config import TrainConfig
from cwm.train.trainer import Trainer

GPU = torch.cuda.is_available()
FP8_GPU = GPU and torch.cuda.get_device_capability() >= (8, 9)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return collatz_dataset(tmp_path_factory.mktemp("data") / "collatz")


def config(tmp_path, data, **changes) -> TrainConfig:
    base = {
        "run_dir": str(tmp_path / "run"),
        "steps": 6,
        "model": {"flavor": "debug"},
        "data": {"sources": [{"path": str(data)}], "seq_len": 128, "batch_size": 4},
        "optim": {"lr": 3e-3, "warmup_steps": 1},
        "metrics": {"progress": False},
    }
    return load_config(TrainConfig, preset=merge(base, changes))


def test_the_builtin_backends_are_registered():
    assert {"auto", "cpu", "cuda", "h100-fp8", "async-tp"} <= set(registry("hardware").names())
    assert registry("hardware").package_of("cpu") == "cwm-train"


def test_a_third_party_backend_drives_the_trainer_without_loop_changes(tmp_path, data):
    calls = []

    class Counting(HardwareBackend):
        name = "counting"

        def convert(self, model):
            calls.append("convert")

        def after_optimizer_step(self, model):
            calls.append("step")

        def peak_flops(self):
            return 1e12

    from cwm.core.plugins import hookimpl, register_plugin, unregister_plugin

    class Plugin:
        @hookimpl
        def register_hardware_backends(self):
            return {"counting": Counting}

    name = register_plugin(Plugin(), "counting-backend")
    try:
        summary = Trainer(config(tmp_path, data, hardware={"backend": "counting"})).run()
    finally:
        unregister_plugin(name)
    assert calls == ["convert"] + ["step"] * 6 and summary["hardware"]["backend"] == "counting"
    assert summary["model"] == {"attention": "banded", "compile": "off"}


def test_fp8_training_emulated_on_cpu(tmp_path, data):
    """torchao's float8 conversion and casts, with high-precision matmuls (emulate)."""
    from torchao.float8.float8_linear import Float8Linear

    cfg = config(
        tmp_path,
        data,
        hardware={
            "backend": "h100-fp8",
            "options": {"emulate": True, "recipe": "tensorwise", "base": "cpu"},
        },
    )
    trainer = Trainer(cfg)
    linears = {
        n: type(m) for n, m in trainer.model.named_modules() if isinstance(m, torch.nn.Linear)
    }
    assert linears.pop("output") is torch.nn.Linear  # the head stays in high precision
    assert set(linears.values()) == {Float8Linear}
    summary = trainer.run()
    plain = Trainer(config(tmp_path / "plain", data)).run()
    # float8 rounding changes the numbers a little, not the learning
    assert (
        abs(summary["loss"] - plain["loss"]) < 0.05
        and summary["hardware"]["recipe"] == "tensorwise"
    )
    load_checkpoint(summary["checkpoint"])  # the same parameter names: a plain model loads it


@pytest.mark.parametrize("recipe", ["rowwise", "rowwise_with_gw_hp"])
def test_fp8_recipes_convert(recipe):
    backend = registry("hardware").create("h100-fp8", emulate=True, recipe=recipe, base="cpu")
    model = torch.nn.Sequential(torch.nn.Linear(32, 64, bias=False), torch.nn.Linear(64, 10))
    backend.convert(model)
    assert (
        type(model[0]).__name__ == "Float8Linear" and type(model[1]) is torch.nn.Linear
    )  # 10 % 16
    model(torch.randn(4, 32)).sum().backward()


def test_backend_errors_say_what_to_do():
    with pytest.raises(CwmError, match="unknown recipe 'fast'"):
        registry("hardware").create("h100-fp8", emulate=True, recipe="fast", base="cpu")
    if not FP8_GPU:
        with pytest.raises(CwmError, match="emulate = true"):
            registry("hardware").create("h100-fp8")
    if not GPU:
        with pytest.raises(CwmError, match="needs a CUDA GPU"):
            registry("hardware").create("cuda")


def test_async_tp_needs_a_tensor_parallel_mesh(tmp_path, data):
    with pytest.raises(CwmError, match=r"set parallel\.tp >= 2"):
        Trainer(
            config(tmp_path, data, hardware={"backend": "async-tp", "options": {"base": "cpu"}})
        )


def test_cpu_backend_reports_a_measured_peak_and_memory():
    backend = registry("hardware").create("cpu")
    assert isinstance(backend, protocols.HardwareBackend)  # what the kinds table promises
    assert backend.peak_flops() > 1e9 and backend.memory()["max_rss_gib"] > 0
    assert registry("hardware").create("cpu", peak_tflops=2.0).peak_flops() == 2e12


@pytest.mark.parametrize(("speedup", "chosen"), [(2.4, True), (1.1, False), (0.6, False)])
def test_cpu_bf16_auto_takes_bf16_only_where_its_matmul_is_clearly_faster(
    tmp_path, data, monkeypatch, speedup, chosen
):
    # the two measured GEMMs are what differs between CPUs; the training step is real
    from cwm.train.backends import cpu

    flops = {torch.float32: 1e11, torch.bfloat16: speedup * 1e11}
    monkeypatch.setattr(cpu, "measured_matmul_flops", lambda dtype: flops[dtype])
    cfg = config(tmp_path, data, steps=2, hardware={"backend": "cpu", "options": {"bf16": "auto"}})
    summary = Trainer(cfg).run()
    assert summary["hardware"]["bf16"] is chosen
    assert summary["hardware"]["bf16_matmul_speedup"] == speedup


def test_cpu_bf16_setting_is_checked():
    with pytest.raises(CwmError, match="bf16 must be true, false or \"auto\", not 'yes'"):
        registry("hardware").create("cpu", bf16="yes")


@pytest.mark.skipif(not GPU, reason="needs a CUDA GPU (not available here)")
def test_cuda_training_in_bf16(tmp_path, data):
    summary = Trainer(config(tmp_path, data, hardware={"backend": "cuda"})).run()
    assert summary["steps"] == 6 and summary["hardware"]["bf16"]


@pytest.mark.skipif(
    not FP8_GPU, reason="needs a GPU with float8 tensor cores (sm89+; not available here)"
)
def test_fp8_training_on_the_gpu(tmp_path, data):
    cfg = config(
        tmp_path,
        data,
        model={"flavor": "debug", "dim": 128},
        hardware={"backend": "h100-fp8", "options": {"recipe": "rowwise"}},
    )
    assert Trainer(cfg).run()["steps"] == 6
