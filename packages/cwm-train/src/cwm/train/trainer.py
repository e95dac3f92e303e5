"""The training loop: one loop for pre-training, mid-training and SFT.

    summary = Trainer(load_train_config("configs/sft.toml")).run()

The stage is in the config (data mixture, loss masks, schedule). The loop knows
nothing about hardware: the backend from ``registry("hardware")`` converts and
parallelizes the model, sets the precision and reports peak FLOPs and memory.
Every rank plans the same global batches and computes its own rows; the loss is
the sum of token losses over the global batch divided by its target count, so
a run gives the same curve on any number of ranks (up to float rounding).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import torch

from cwm.core.config import to_dict
from cwm.core.errors import CwmError
from cwm.core.model import Transformer
from cwm.core.plugins import registry
from cwm.core.tokenizer import Tokenizer
from cwm.train.checkpoint import Checkpointer
from cwm.train.config import TrainConfig
from cwm.train.data.loader import Batch, Loader
from cwm.train.data.sources import open_source
from cwm.train.distributed import all_reduce_sum, broadcast, init_world
from cwm.train.ema import WeightAverage
from cwm.train.loss import CausalLMLoss
from cwm.train.metrics import MetricsLog, mfu
from cwm.train.optim import build_optimizer, lr_at, set_lr
from cwm.train.parallel import build_mesh, clip_grads, mesh_shape


class Trainer:
    def __init__(self, cfg: TrainConfig, *, progress: bool | None = None):
        self.cfg = cfg
        self.progress = cfg.metrics.progress if progress is None else progress
        self.backend = registry("hardware").create(cfg.hardware.backend, **cfg.hardware.options)
        self.world = init_world(self.backend.dist_backend, self.backend.device)
        self.device = self.world.device
        self.dp, tp = mesh_shape(cfg.parallel, self.world.size)
        self.mesh = build_mesh(self.backend.device_type, self.dp, tp)
        self.dp_rank = self.mesh["dp"].get_local_rank() if self.mesh is not None else 0
        self.dp_group = self.mesh["dp"].get_group() if self.mesh is not None else None
        torch.manual_seed(cfg.seed)

        model_config = cfg.model_config()
        with torch.device("meta"):  # the backend converts and shards before any memory is used
            self.model = Transformer(msgspec.structs.replace(model_config, compile=False))
        self.root = CausalLMLoss(self.model, cfg.loss_chunk)
        self.backend.convert(self.model)
        self.backend.parallelize(
            self.root, self.model, self.mesh, cfg.parallel, compile=model_config.compile
        )
        self.root.to_empty(device=self.device)
        self.model.init_weights(cfg.seed)
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.average = WeightAverage(self.model, cfg.ema_decay) if cfg.ema_decay else None

        unit = self.dp * cfg.grad_accum
        tok = Tokenizer.for_model(model_config)
        if model_config.vocab_size < tok.n_vocab:
            raise CwmError(
                f"model.vocab_size ({model_config.vocab_size}) is smaller than the vocabulary "
                f"{model_config.vocab!r} ({tok.n_vocab} ids with the special block); "
                f"set model.vocab_size={tok.n_vocab}"
            )
        sources = [
            open_source(s, tokenizer=tok, progress=self.progress and self.world.main)
            for s in cfg.data.sources
        ]
        self.loader = Loader(
            sources, [s.weight for s in cfg.data.sources], cfg.data, seed=cfg.seed, unit=unit
        )
        self.eval_sources = [
            open_source(s, tokenizer=tok, progress=False) for s in cfg.data.eval_sources
        ]
        self.run_dir = Path(cfg.run_dir)
        self.checkpointer = Checkpointer(self.run_dir, keep=cfg.checkpoint.keep)
        self.peak = self.backend.peak_flops()

    # -- the loop --------------------------------------------------------------------

    def run(
        self, on_step: Callable[[int, dict[str, Any]], dict[str, Any] | None] | None = None
    ) -> dict[str, Any]:
        """Train to ``cfg.steps`` (or the time budget). ``on_step(step, counters)``, if given,
        runs after every step with the run's counters (``tokens``, ``seconds`` in steps,
        ``wall`` trained so far, ``loss``); a dict it returns is logged (its time counts
        against the budget, like the step's)."""
        cfg = self.cfg
        step, total = 0, cfg.steps
        # wall: seconds this run has trained, over all its processes (for the time budget)
        counters = {"tokens": 0, "seconds": 0.0, "wall": 0.0, "loss": math.nan}
        latest = self.checkpointer.latest() if cfg.checkpoint.resume else None
        if latest is not None:
            state = self._load(latest)
            step, counters = state["step"], state["counters"]
            # a time-budgeted run keeps the step count it fitted; otherwise the config may extend it
            total = state["total_steps"] if cfg.time_budget else cfg.steps
            self.loader.load_state_dict(state["data"])
        if self.world.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
        log = MetricsLog(
            self.run_dir,
            active=self.world.main,
            resume_step=step,
            total=total,
            start=step,
            progress=self.progress,
            logging=cfg.logging,
            config=to_dict(cfg),
        )
        first, times, saved, eval_loss = step, [], None, None
        started, wall = time.perf_counter(), counters["wall"]
        try:
            while step < total:
                # a time-budgeted run decays its LR on the share of the budget spent
                spent = counters["wall"] / cfg.time_budget if cfg.time_budget else None
                record = self.train_step(step, total, spent)
                step += 1
                times.append(record["step_time"])
                counters["tokens"] += record["tokens"]
                counters["seconds"] += record["step_time"]
                counters["wall"] = wall + time.perf_counter() - started
                counters["loss"] = record["loss"]
                log.step(record, log=step % cfg.metrics.log_every == 0 or step == total)
                extra = on_step(step, dict(counters)) if on_step else None
                if extra:
                    log.write({"step": step, **extra})
                    counters["wall"] = wall + time.perf_counter() - started
                if cfg.time_budget and (step - first) % cfg.budget_every == 0:
                    total = self._fit_budget(step, times, counters["wall"])
                    log.set_total(total)
                if cfg.metrics.eval_every and step % cfg.metrics.eval_every == 0 and step < total:
                    log.write({"step": step, "eval_loss": self.evaluate()})
                interval = cfg.checkpoint.interval
                if interval and step % interval == 0 and step < total:
                    saved = self.save(step, total, counters)
            last = None
            if self.average is not None:  # the run's model is the averaged weights
                last = self.average.copy_of(self.model)
                self.average.load_into(self.model, self.average.average)
            eval_loss = self.evaluate()
            if eval_loss is not None:
                log.write({"step": step, "eval_loss": eval_loss})
            if cfg.checkpoint.final and step > first:
                saved = self.save(step, total, counters, last)
        finally:
            log.close()
        summary = {
            "steps": step,
            "loss": counters["loss"],
            "eval_loss": eval_loss,
            "tokens": counters["tokens"],
            "train_seconds": counters["seconds"],
            "tokens_per_s": counters["tokens"] / counters["seconds"]
            if counters["seconds"]
            else 0.0,
            "padding_fraction": self.loader.padding_fraction,
            "checkpoint": str(saved or latest or ""),
            "hardware": self.backend.describe(),
            "model": self.model.describe(),  # attention backend, and whether blocks compiled
            "world_size": self.world.size,
        }
        if self.world.main:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def train_step(self, step: int, total: int, spent: float | None = None) -> dict[str, Any]:
        cfg = self.cfg
        lr = lr_at(step, total, cfg.optim, spent=spent)
        set_lr(self.optimizer, lr)
        start = time.perf_counter()
        batch = self.loader.next_batch()
        targets = max(batch.targets, 1)
        mine = batch.part(self.dp_rank, self.dp)
        loss_sum = 0.0
        for m in range(cfg.grad_accum):
            micro = mine.part(m, cfg.grad_accum)
            if hasattr(self.root, "set_requires_gradient_sync"):  # FSDP: reduce once per step
                self.root.set_requires_gradient_sync(m == cfg.grad_accum - 1)
            with self.backend.autocast():
                summed = self._forward(micro)
            # FSDP averages gradients over dp ranks; the loss is a mean over the global batch
            (summed * (self.dp / targets)).backward()
            loss_sum += float(summed.detach())
        grad_norm = clip_grads(self.params, cfg.optim.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.backend.after_optimizer_step(self.model)
        if self.average is not None:
            self.average.update(self.model, step)
        loss = all_reduce_sum(loss_sum, self.device, self.dp_group) / targets
        self.backend.synchronize()
        seconds = time.perf_counter() - start
        if not math.isfinite(loss):
            raise CwmError(
                f"the loss is {loss} at step {step + 1}; lower optim.lr or raise optim.warmup_steps"
            )
        tokens_per_s = batch.tokens / seconds
        flops = self.model.flops_per_token(batch.inputs.shape[1])
        return {
            "step": step + 1,
            "loss": loss,
            "lr": lr,
            "grad_norm": grad_norm,
            "tokens": batch.tokens,
            "targets": batch.targets,
            "step_time": seconds,
            "tokens_per_s": tokens_per_s,
            "mfu": mfu(tokens_per_s, flops, self.peak, self.world.size),
            **self.backend.memory(),
        }

    def _forward(self, batch: Batch) -> torch.Tensor:
        doc = None if batch.doc_ids is None else batch.doc_ids.to(self.device)
        return self.root(batch.inputs.to(self.device), batch.labels.to(self.device), doc)

    @torch.no_grad()
    def evaluate(self) -> float | None:
        """Mean token loss over ``metrics.eval_batches`` held-out batches (the same ones each time)."""
        if not self.eval_sources:
            return None
        weights = [s.weight for s in self.cfg.data.eval_sources]
        loader = Loader(self.eval_sources, weights, self.cfg.data, seed=self.cfg.seed, unit=self.dp)
        total, targets = 0.0, 0
        for _ in range(self.cfg.metrics.eval_batches):
            batch = loader.next_batch()
            targets += batch.targets
            with self.backend.autocast():
                total += float(self._forward(batch.part(self.dp_rank, self.dp)))
        return all_reduce_sum(total, self.device, self.dp_group) / max(targets, 1)

    # -- bookkeeping -----------------------------------------------------------------

    def _fit_budget(self, step: int, times: list[float], wall: float) -> int:
        """The step count that ends the run within the time budget, from recent step times
        (the first step pays for warm-up and is left out once there are others)."""
        recent = times[1:][-4 * self.cfg.budget_every :] or times
        left = self.cfg.time_budget - wall
        fit = step + max(0, int(left / (sum(recent) / len(recent))))
        return int(broadcast(min(self.cfg.steps, fit)))  # type: ignore[call-overload]

    def save(
        self,
        step: int,
        total: int,
        counters: dict[str, Any],
        last: dict[str, torch.Tensor] | None = None,
    ) -> Path:
        """A checkpoint of the run; with a weight average, the model in it is the average
        only at the end of the run, when ``last`` holds the weights the run resumes from."""
        state = {
            "step": step,
            "total_steps": total,
            "data": self.loader.state_dict(),
            "counters": counters,
        }
        extra = {}
        if self.average is not None:
            extra["ema"] = self.average.average
        if last is not None:
            extra["last"] = last
        return self.checkpointer.save(step, self.model, self.optimizer, state, extra)

    def _load(self, path: Path) -> dict[str, Any]:
        """Restore a checkpoint; with a weight average, the average too, and the last weights
        of a run that ended in it."""
        if self.average is None:
            return self.checkpointer.load(path, self.model, self.optimizer)
        if not self.checkpointer.holds(path, "ema"):
            raise CwmError(
                f"{path}: saved without a weight average (ema_decay was 0); resume with "
                "ema_decay = 0 or start a new run_dir"
            )
        extra = {"ema": self.average.average}
        if self.checkpointer.holds(path, "last"):
            extra["last"] = self.average.copy_of(self.model)  # buffers to load into
        state = self.checkpointer.load(path, self.model, self.optimizer, extra)
        if "last" in extra:
            self.average.load_into(self.model, extra["last"])
        return state
