"""One rank of a 2-process gloo job: save or load a native checkpoint from an FSDP-sharded model.

    RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 python dcp_worker.py save DIR CONFIG_JSON

``save`` initializes the sharded model with `init_weights(seed=7)` and writes it;
``load`` reads DIR into a freshly sharded model and checks every parameter and the
logits against an unsharded model built in this process. Exits non-zero on mismatch.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import msgspec
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

from cwm.core.checkpoint import native, save_checkpoint
from cwm.core.model import ModelConfig, Transformer, build_model


def sharded_model(config: ModelConfig) -> Transformer:
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    with torch.device("meta"):
        model = Transformer(config)
    for block in model.layers:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    return model


def main() -> None:
    mode, directory, config_json = sys.argv[1:4]
    config = msgspec.json.decode(config_json, type=ModelConfig)
    dist.init_process_group("gloo")
    model = sharded_model(config)
    weight = model.layers[0].attention.wq.weight
    assert weight.to_local().shape[0] < weight.shape[0], "parameters are not sharded"
    if mode == "save":
        model.init_weights(seed=7)
        save_checkpoint(model, Path(directory), format="native")
    else:
        native.load_model(model, Path(directory))
        reference = build_model(config, seed=7)
        for name, param in model.state_dict().items():
            assert torch.equal(param.full_tensor(), reference.state_dict()[name]), name
        tokens = torch.arange(24).remainder(config.vocab_size)[None]
        with torch.no_grad():
            torch.testing.assert_close(model(tokens), reference(tokens))
    dist.barrier()
    dist.destroy_process_group()
    # torch 2.11's gloo once aborted a rank here ("terminate called without an active
    # exception") as the interpreter tore its threads down; everything is saved and
    # checked by now, so leave without that teardown
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
