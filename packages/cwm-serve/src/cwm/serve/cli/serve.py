"""``cwm serve``: the OpenAI-compatible server for a checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from cwm.core.cli.options import config_options
from cwm.core.errors import CwmError
from cwm.serve.cli.options import set_threads, threads_option
from cwm.serve.server.limits import ServerLimits

LIMITS = ServerLimits()  # the CLI's defaults are the config's

DTYPES = ("auto", "float32", "bfloat16", "float16")


@click.command("serve")
@click.option(
    "--checkpoint",
    "checkpoint",
    type=click.Path(file_okay=False),
    help="Checkpoint directory (native, hf or meta format).",
)
@click.option(
    "--random",
    "random_flavor",
    metavar="FLAVOR",
    help="Serve a randomly initialized model of FLAVOR instead (smoke tests).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, ...")
@threads_option
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default="auto",
    show_default=True,
    help="auto: the checkpoint's dtype.",
)
@click.option(
    "--model-name", default=None, help="Name in /v1/models (default: the directory name)."
)
@click.option(
    "--api-key",
    envvar="CWM_API_KEY",
    default=None,
    help="Every /v1 request must send 'Authorization: Bearer KEY' (env CWM_API_KEY).",
)
@click.option(
    "--max-n",
    type=click.IntRange(min=1),
    default=LIMITS.max_n,
    show_default=True,
    help="Sequences one request may ask for (n times its prompts).",
)
@click.option(
    "--max-request-tokens",
    type=click.IntRange(min=1),
    default=LIMITS.max_request_tokens,
    show_default=True,
    help="Prompt + max_tokens, summed over a request's sequences.",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1),
    default=LIMITS.max_body_bytes,
    show_default=True,
    help="Largest request body (larger: 413).",
)
@click.option(
    "--weights-control",
    is_flag=True,
    help="Open /control/weights/ so that a trainer's weights group can be joined and its "
    "versions applied over HTTP (behind --api-key if set).",
)
@config_options
def serve(
    checkpoint: str | None,
    random_flavor: str | None,
    host: str,
    port: int,
    device: str,
    threads: int | None,
    dtype: str,
    model_name: str | None,
    api_key: str | None,
    max_n: int,
    max_request_tokens: int,
    max_body_bytes: int,
    weights_control: bool,
    config: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions).

    Engine settings come from --config FILE and --set KEY=VALUE (block_size, num_blocks,
    kv_cache_mib, max_num_seqs, max_num_batched_tokens, max_model_len, window_aware, ...).
    """
    import uvicorn

    from cwm.core.checkpoint import load_checkpoint
    from cwm.core.checkpoint.dtypes import dtype_of
    from cwm.core.config import load_config
    from cwm.core.model import build_model, flavor
    from cwm.core.torch_extra import require_device
    from cwm.serve.engine import EngineConfig, LLMEngine
    from cwm.serve.server.app import create_app

    set_threads(threads)
    if (checkpoint is None) == (random_flavor is None):
        raise CwmError(
            "give exactly one of --checkpoint DIR or --random FLAVOR (e.g. --random debug)"
        )
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if weights_control and not loopback and not api_key:
        raise CwmError(
            f"--weights-control on {host} lets any client replace the served weights: "
            "set --api-key (or CWM_API_KEY), or serve on 127.0.0.1"
        )
    require_device(device)
    engine_config = load_config(EngineConfig, config, overrides)
    torch_dtype = None if dtype == "auto" else dtype_of(dtype)
    if checkpoint is not None:
        model = load_checkpoint(checkpoint, device=device, dtype=torch_dtype)
        name = model_name or Path(checkpoint).resolve().name
    else:
        model = build_model(flavor(random_flavor or ""), device=device, dtype=torch_dtype, seed=0)
        name = model_name or f"random-{random_flavor}"
    limits = ServerLimits(
        api_key=api_key or None,
        max_n=max_n,
        max_request_tokens=max_request_tokens,
        max_body_bytes=max_body_bytes,
    )
    engine = LLMEngine(model, config=engine_config)
    click.echo(f"serving {name} on http://{host}:{port}/v1 ({device})", err=True)
    if not limits.api_key and not loopback:
        click.echo(
            f"warning: {host} is reachable from other machines and no --api-key is set", err=True
        )
    app = create_app(engine, model_name=name, limits=limits, weights_control=weights_control)
    uvicorn.run(app, host=host, port=port, log_level="warning")
