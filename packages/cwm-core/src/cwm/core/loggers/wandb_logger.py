"""The ``wandb`` logger: a Weights & Biases run in ``RUN/wandb/`` (the ``cwm-core[wandb]`` extra).

Offline by default, since these machines have no network: the run is kept on
disk and uploaded later with ``wandb sync RUN/wandb/offline-run-*``. Set the
logging option ``wandb_mode = "online"`` (or ``WANDB_MODE``) to stream instead.
A resumed run continues the same W&B run (its id is kept in ``RUN/wandb/run_id``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cwm.core.errors import CwmError
from cwm.core.loggers.base import Scalar, scalars


class WandbLogger:
    def __init__(
        self,
        run_dir: Path | str,
        resume_step: int = 0,
        *,
        project: str = "cwm",
        wandb_mode: str = "offline",
        **_: Any,
    ):
        try:
            import wandb
        except ImportError:
            raise CwmError(
                "the wandb logger needs the wandb package: pip install 'cwm-core[wandb]'"
            ) from None
        self._wandb = wandb
        root = Path(run_dir)
        (root / "wandb").mkdir(parents=True, exist_ok=True)
        id_file = root / "wandb" / "run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        id_file.write_text(run_id + "\n")
        self.run = wandb.init(
            project=project,
            name=root.resolve().name,
            id=run_id,
            resume="allow",
            dir=str(root),
            mode=os.environ.get("WANDB_MODE", wandb_mode),
            settings=wandb.Settings(silent=True, save_code=False, disable_git=True),
        )

    def log(self, step: int, metrics: Mapping[str, Scalar]) -> None:
        values = scalars(metrics)
        if values:
            self.run.log(values, step=step)

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.run.config.update(dict(config), allow_val_change=True)

    def log_histogram(self, step: int, name: str, values: Sequence[float]) -> None:
        if values:
            self.run.log({name: self._wandb.Histogram(list(values))}, step=step)

    def close(self) -> None:
        self.run.finish()
        # finish() returns before the wandb-core service has written the run to disk;
        # teardown waits for it, so the run directory is complete when close() returns
        self._wandb.teardown()
