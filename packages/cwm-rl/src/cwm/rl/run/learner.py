"""The learner: cwm-train's model, optimizer and hardware backend under the policy loss.

One `train` call is one optimizer step on a batch of finished groups: group-relative
advantages, each token's weight in the loss from the whole batch (so micro-batching
does not change the step), the policy's logprobs of the action tokens (the output
head runs on those positions only, fused with the softmax: `cwm.rl.run.head_logprobs`;
longest samples first, each micro-batch padded to its own longest only; with
``share_prefix`` a group's common prompt runs once, see `cwm.rl.run.shared_prefix`),
the objective, backward per micro-batch, the gradient clip and the step. ``weights()`` is what it publishes to the actors.

Several learner ranks (``group``, under torchrun): the model is sharded with FSDP2 over
the group (gloo on CPU), every rank builds the whole batch's advantages and token
weights and trains on its contiguous share of the samples; the gradients sum over the
ranks, so the step is the one a single learner takes on the whole batch. Every rank
calls ``weights()`` together (it gathers the full tensors).
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.tensor import DTensor

from cwm.core.errors import CwmError
from cwm.core.model import Transformer
from cwm.core.plugins import registry
from cwm.rl.losses import group_advantages, merge_stats, summarize, token_weights
from cwm.rl.run.config import RLConfig
from cwm.rl.run.head_logprobs import fusable, target_logprobs
from cwm.rl.run.samples import Group
from cwm.rl.run.shared_prefix import shared_hidden_states
from cwm.train.optim import build_optimizer, lr_at, set_lr
from cwm.train.parallel import apply_tp, clip_grads


def build_policy(cfg: RLConfig) -> Transformer:
    """The starting weights: the ``init`` checkpoint, or a fresh model of ``model``."""
    if cfg.init:
        from cwm.core.checkpoint import load_checkpoint

        return load_checkpoint(cfg.init, dtype=torch.float32)
    from cwm.core.model import build_model

    return build_model(cfg.model_config(), seed=cfg.seed)


def shard(model: Transformer, mesh: DeviceMesh) -> None:
    """FSDP2 over ``mesh``: a unit per block and for the output head, the rest at the root;
    ``hidden_states`` (the learner's forward) runs the root's gather hooks."""
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    for block in model.layers:
        fully_shard(block, mesh=mesh)
    fully_shard(model.output, mesh=mesh)
    fully_shard(model, mesh=mesh)
    register_fsdp_forward_method(model, "hidden_states")


def learner_mesh(group: dist.ProcessGroup, tp: int, device_type: str) -> DeviceMesh:
    """The learners' ("dp", "tp") mesh over the ranks of ``group``, in order: consecutive
    ranks form a tensor-parallel group. Only the learners call it (their groups are made
    with local synchronization, so the actors of the job need not join)."""
    ranks = dist.get_process_group_ranks(group)
    grid = torch.tensor(ranks).view(len(ranks) // tp, tp)
    me, mine = dist.get_rank(), {}
    for dim, rows in (("dp", grid.t().tolist()), ("tp", grid.tolist())):
        for members in rows:
            if me in members:
                mine[dim] = dist.new_group(members, backend="gloo", use_local_synchronization=True)
    return DeviceMesh.from_group(
        [mine["dp"], mine["tp"]], device_type, mesh=grid, mesh_dim_names=("dp", "tp")
    )


def micro_batches(
    order: list[int], length: list[int], size: int, padding: float
) -> list[list[int]]:
    """``order`` (sample indices, longest first) cut into micro-batches of at most
    ``size`` samples, each to be padded to its first (longest) sample. A micro-batch also
    ends before a sample that padding would lengthen by more than ``padding`` of its row:
    two prompts of 1,259 and 441 tokens train as two micro-batches, not one of 1,259-token
    rows (1.65x faster, tiny flavor, CPU)."""
    plan: list[list[int]] = []
    for i in order:
        last = plan[-1] if plan else []
        if last and len(last) < size and length[i] >= (1 - padding) * length[last[0]]:
            last.append(i)
        else:
            plan.append([i])
    return plan


def split_to(plan: list[list[int]], count: int) -> list[list[int]]:
    """``plan`` with its largest micro-batches halved until it has ``count`` (at most the
    number of samples): every learner rank must run as many."""
    plan = [list(p) for p in plan]
    while len(plan) < count:
        i = max(range(len(plan)), key=lambda j: len(plan[j]))  # the first of the largest
        half = (len(plan[i]) + 1) // 2
        plan[i : i + 1] = [plan[i][:half], plan[i][half:]]
    return plan


class Learner:
    def __init__(self, cfg: RLConfig, model: Transformer, group: dist.ProcessGroup | None = None):
        self.cfg = cfg
        self.backend = registry("hardware").create(cfg.hardware.backend, **cfg.hardware.options)
        self.device = self.backend.device(0)
        self.model = model.to(self.device).train()
        self.group = group  # every learner: checkpoints, the broadcast of each batch
        several = group is not None and dist.get_world_size(group) > 1
        mesh = learner_mesh(group, cfg.learner_tp, self.device.type) if several else None
        # the samples split over the data-parallel ranks; a tensor-parallel group shares them
        self.dp_group = mesh["dp"].get_group() if mesh is not None else None
        self.ranks = dist.get_world_size(self.dp_group) if self.dp_group is not None else 1
        self.rank = dist.get_rank(self.dp_group) if self.dp_group is not None else 0
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.loss = registry("policy_loss").create(cfg.loss, **cfg.loss_options)
        self.losses = {t.name: self._task_loss(t) for t in cfg.tasks}
        self.reference = None
        if any(loss.config.kl for loss in self.losses.values()):  # the frozen starting policy
            self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        if mesh is not None:
            if self.reference is not None:
                raise CwmError("a kl loss needs learners = 1 (its reference model is not sharded)")
            if cfg.learner_tp > 1:
                apply_tp(self.model, mesh["tp"], sequence_parallel=False)
            if self.ranks > 1:
                shard(self.model, mesh["dp"])
            self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.version = 0

    def _task_loss(self, task: Any) -> Any:
        """A task's own loss (its ``loss``/``loss_options`` over the run's); the batch-wide
        choices (aggregation, advantages, old logprobs) stay the run's."""
        if not task.loss and not task.loss_options:
            return self.loss
        options = {**self.cfg.loss_options, **task.loss_options}
        loss = registry("policy_loss").create(task.loss or self.cfg.loss, **options)
        for key in ("aggregation", "divisor", "normalize_std", "recompute_old"):
            if getattr(loss.config, key) != getattr(self.loss.config, key):
                raise CwmError(
                    f"task {task.name!r}: loss_options.{key} must be the run's "
                    f"(set it in the top-level loss_options)"
                )
        return loss

    def weights(self) -> dict[str, Tensor]:
        """The full weights (with several ranks: gathered, a collective of the group)."""
        out = {}
        for k, v in self.model.state_dict().items():
            out[k] = (v.full_tensor() if isinstance(v, DTensor) else v).detach()
        return out

    # -- one step --------------------------------------------------------------------

    def train(self, groups: list[Group]) -> dict[str, Any]:
        cfg, lcfg = self.cfg, self.loss.config
        start = time.perf_counter()
        set_lr(self.optimizer, lr := lr_at(self.version, cfg.steps, cfg.optim))
        samples = [s for g in groups for s in g.samples]
        tasks = [g.spec.task for g in groups for _ in g.samples]
        gid = torch.tensor([i for i, g in enumerate(groups) for _ in g.samples])
        rewards = torch.tensor([s.reward for s in samples])
        adv, keep = group_advantages(rewards, gid, normalize_std=lcfg.normalize_std)
        inputs, targets, mask, old = self._rows(samples)
        length = [len(s.tokens) - 1 for s in samples]
        weights = token_weights(mask, keep, gid, lcfg.aggregation, divisor=lcfg.divisor)
        if lcfg.recompute_old:
            with torch.no_grad():
                batch = (inputs, targets, mask, length, gid.tolist())
                old = self._logprobs(self.model, *batch)[0].detach().cpu()
        parts, loss_sum, entropy = [], 0.0, 0.0
        live = (weights > 0).any(1)  # the samples a gradient can come from
        n = len(samples)
        if self.ranks > 1:  # this rank's share; every rank runs as many micro-batches
            if n % self.ranks:
                raise CwmError(
                    f"{n} samples do not split over {self.ranks} learners; make "
                    "groups_per_step * group_size a multiple of learners"
                )
            share = n // self.ranks
            mine = list(range(self.rank * share, (self.rank + 1) * share))
        elif cfg.train_zero_variance:
            mine, live = list(range(n)), torch.ones_like(live)
        else:  # a sample of weight 0 (a zero-variance group's) adds nothing: not run at all
            mine = [i for i in range(n) if live[i]]
            if not mine:  # zero gradients, so the optimizer steps as it would on them
                for p in self.params:
                    p.grad = torch.zeros_like(p)
        # longest first, each micro-batch cut to its own longest sample: less padding
        mine.sort(key=lambda i: -length[i])
        plan = micro_batches(mine, length, cfg.micro_batch, cfg.micro_batch_padding)
        if self.ranks > 1:  # FSDP's collectives pair up: every rank runs as many
            count = torch.tensor([len(plan)], device=self.device)
            dist.all_reduce(count, op=dist.ReduceOp.MAX, group=self.dp_group)
            plan = split_to(plan, int(count))
        for part in plan:
            rows = torch.tensor(part)
            cut = max(1, length[part[0]])
            x, y, m = inputs[rows, :cut], targets[rows, :cut], mask[rows, :cut]
            batch = (x, y, m, [length[i] for i in part], gid[rows].tolist())
            with self.backend.autocast():
                logp, ent = self._logprobs(self.model, *batch, live[rows])
                ref = None
                if self.reference is not None:
                    with torch.no_grad():
                        ref = self._logprobs(self.reference, *batch)[0]
                a = adv[rows][:, None].expand_as(logp).to(self.device)
                w, o = weights[rows, :cut].to(self.device), old[rows, :cut].to(self.device)
                total = torch.zeros((), device=self.device)
                names = [tasks[i] for i in rows.tolist()]
                for name in sorted(set(names)):  # each task under its own loss
                    sel = torch.tensor([i for i, n in enumerate(names) if n == name])
                    out = self.losses[name](
                        logp[sel], o[sel], a[sel], w[sel], None if ref is None else ref[sel]
                    )
                    total = total + out.loss
                    parts.append(out.stats)
            (total * self.ranks).backward()  # FSDP averages over ranks; the step wants the sum
            loss_sum += float(total.detach())
            entropy += ent
        stats = merge_stats(parts)
        if self.ranks > 1:
            loss_sum, entropy, stats = self._sum_over_ranks(loss_sum, entropy, stats)
        grad_norm = clip_grads(self.params, cfg.optim.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.backend.after_optimizer_step(self.model)
        self.version += 1
        if not math.isfinite(loss_sum):
            raise CwmError(f"the policy loss is {loss_sum} at step {self.version}; lower optim.lr")
        return {
            "loss": loss_sum,
            "lr": lr,
            "grad_norm": grad_norm,
            "zero_var_groups": int(len(groups) - len(set(gid[keep].tolist()))),
            "trained_tokens": int(stats["tokens"]),
            "train_seconds": time.perf_counter() - start,
            **summarize(stats),
            # of the trained samples; a step that trained none has no entropy to report
            **({"entropy": entropy / int(mask[live].sum())} if stats["tokens"] else {}),
        }

    def _sum_over_ranks(
        self, loss: float, entropy: float, stats: dict[str, float]
    ) -> tuple[float, float, dict[str, float]]:
        keys = sorted(k for k in stats if k != "ratio_max")
        sums = torch.tensor([loss, entropy] + [stats[k] for k in keys], dtype=torch.float64)
        dist.all_reduce(sums, group=self.dp_group)
        top = torch.tensor([stats.get("ratio_max", 0.0)], dtype=torch.float64)
        dist.all_reduce(top, op=dist.ReduceOp.MAX, group=self.dp_group)
        out = dict(zip(keys, sums[2:].tolist())) | {"ratio_max": float(top[0])}
        return float(sums[0]), float(sums[1]), out

    def _rows(self, samples: list[Any]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Padded ``[N, T]`` inputs, targets, action mask (of the targets) and behaviour logprobs."""
        t = max(len(s.tokens) for s in samples) - 1
        inputs = torch.zeros(len(samples), max(t, 1), dtype=torch.long)
        targets = torch.zeros_like(inputs)
        mask = torch.zeros_like(inputs, dtype=torch.bool)
        old = torch.zeros_like(inputs, dtype=torch.float32)
        for i, s in enumerate(samples):
            n = len(s.tokens) - 1
            inputs[i, :n] = torch.tensor(s.tokens[:-1])
            targets[i, :n] = torch.tensor(s.tokens[1:])
            mask[i, :n] = torch.tensor(s.action[1:])
            if len(s.logprobs) != int(mask[i].sum()):
                raise CwmError(
                    "a sample's behaviour logprobs do not match its action tokens; "
                    "the policy must return one logprob per token"
                )
            old[i][mask[i]] = torch.tensor(s.logprobs, dtype=torch.float32)
        return inputs, targets, mask, old

    def _logprobs(
        self,
        model: Transformer,
        inputs: Tensor,
        targets: Tensor,
        mask: Tensor,
        length: list[int],
        groups: list[int],
        counted: Tensor | None = None,
    ) -> tuple[Tensor, float]:
        """Logprobs of the targets at the masked positions (zeros elsewhere), and the
        summed entropy of the policy there (of the ``counted`` rows only, if given).
        Rows of one group (equal ``groups``) run their common prefix once, if
        ``share_prefix`` (``length``: each row's real tokens)."""
        tokens, hidden = inputs.to(self.device), None
        m = mask.to(self.device)
        picked = targets.to(self.device)[m]
        if model.config.copy_dim:  # the copy head points over whole rows: its forward
            logps = model(tokens)[m].float()
        else:
            if self.cfg.share_prefix:
                hidden = shared_hidden_states(model, tokens, length, groups)
            if hidden is None:
                hidden = model.hidden_states(tokens)
            if fusable(model.output):
                logps = None
                chosen, per_token = target_logprobs(model.output, hidden[m], picked)
            else:  # a sharded or swapped head: its own forward (and hooks)
                logps = model.output(hidden[m]).float().log_softmax(-1)
        if logps is not None:
            chosen = logps.gather(1, picked[:, None])[:, 0]
            with torch.no_grad():
                per_token = -(logps.exp() * logps).sum(-1)
        out = torch.zeros(mask.shape, device=self.device, dtype=chosen.dtype)
        out = out.masked_scatter(m, chosen)
        entropy = 0.0
        if len(chosen):
            if counted is not None:
                per_token = per_token[counted.to(self.device)[:, None].expand_as(m)[m]]
            entropy = float(per_token.sum())
        return out, entropy
