"""The one training loop. Every stage supplies batches and a loss; everything else lives here:
the optimizer (AdamW, or Muon beside it: lmlab.optim), warmup + cosine schedule, gradient clipping and
accumulation, bf16 autocast, DDP or FSDP2 (lmlab.sharding), optional torch.compile, periodic evaluation, metrics,
progress, and exact checkpoint/resume.

A stage gives (through lmlab.stages.recipe):
    batch_fn(index) -> dict of tensors       micro-batch number `index`, a pure function of index
    loss_fn(model, batch) -> lmlab.losses.Loss   (loss_sum, n, metrics): summed loss, its number of
                                             terms, and extra metrics summed over the same terms
    eval_fn(model) -> dict of floats         optional, run every eval_interval steps
The loss of a step is the sum over all its micro-batches (and processes) divided by the total
number of terms, so accumulation and data parallelism give the same update as one big batch;
each metric is logged as its mean over the step in the same way.
Micro-batch k of step s on rank r has index (s * world + r) * accum + k: a run on W processes
with A accumulation reads the same batches as one process with W * A accumulation. Dropout is
seeded from (seed, index) too, so it draws the same masks for a micro-batch in either run, and a
resumed run draws the masks of the uninterrupted one.

On-policy stages (PPO, GRPO) also give a rollout hook (Rollouts): every `steps_per_rollout` steps,
before the step's micro-batches, the hook samples responses from the current model, scores them
and computes their advantages into a buffer that batch_fn then reads. The buffer and the hook's
own state (e.g. an adaptive KL coefficient) are part of each checkpoint, and the hook seeds its
sampling from (seed, step, row), so a resumed run continues exactly, even from the middle of a
rollout's PPO epochs. Offline stages give no hook and nothing changes for them.
"""

import contextlib
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from lmlab.config import TrainConfig
from lmlab.device import Distributed, autocast, compile_unsupported, resolve_dtype
from lmlab.errors import LmlabError
from lmlab.models.moe import aux_losses, moe_layers
from lmlab.optim import make_optimizer
from lmlab.runs import RunFolder, atomic_write
from lmlab.sharding import full_grad_norm, gathered, shard_model


def lr_at(step: int, cfg: TrainConfig, time_fraction: float = 0.0, peak: float | None = None) -> float:
    """Linear warmup to cfg.lr, then cosine decay to cfg.min_lr over lr_decay_iters (Loshchilov & Hutter 2017).

    With a time budget (cfg.max_seconds), the decay follows whichever is further along: the steps or
    `time_fraction`, the share of max_seconds spent (a budget-based schedule, as in Geiping & Goldstein 2022).
    `peak` is the peak of a param group whose own differs from cfg.lr (Muon's): its lr follows the same curve
    from peak to min_lr * peak / lr, the same fraction of its peak at every step.
    """
    lr = cfg.lr if peak is None else peak
    min_lr = cfg.min_lr if lr == cfg.lr else cfg.min_lr * lr / cfg.lr
    if cfg.schedule == "constant":
        return lr * min(1.0, (step + 1) / max(cfg.warmup_iters, 1))
    if step < cfg.warmup_iters:
        return lr * (step + 1) / cfg.warmup_iters
    decay_iters = cfg.lr_decay_iters or cfg.max_iters
    progress = max((step - cfg.warmup_iters) / max(decay_iters - cfg.warmup_iters, 1), time_fraction)
    if progress >= 1.0:
        return min_lr
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


class Rollouts(Protocol):
    """The rollout hook of an on-policy stage (module docstring)."""

    steps_per_rollout: int  # optimizer steps trained on one rollout (PPO: epochs x minibatches)

    def collect(self, model: torch.nn.Module, step: int) -> dict[str, float]:
        """Sample, score and compute advantages with the current model (unwrapped, in eval mode) into the buffer
        batch_fn reads; returns this rank's rollout metrics (means), which the trainer averages over ranks."""
        ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict): ...


@dataclass
class TrainResult:
    step: int
    metrics: dict
    interrupted: bool = False


class Trainer:
    def __init__(
        self,
        model: torch.nn.Module,
        cfg: TrainConfig,
        run: RunFolder | None,
        batch_fn: Callable[[int], dict],
        loss_fn: Callable,
        eval_fn: Callable | None = None,
        device: torch.device = torch.device("cpu"),
        dist_info: Distributed = Distributed(),
        tokens_per_step: int = 0,
        flops_per_token: float = 0.0,
        peak_flops: float = 0.0,
        rollouts: Rollouts | None = None,
        progress_keys: tuple[str, ...] = ("loss", "val_loss", "tokens_per_s"),
    ):
        self.cfg, self.run, self.device, self.dist = cfg, run, device, dist_info
        self.rollouts, self.progress_keys = rollouts, progress_keys
        self.rollout_metrics: dict[str, float] = {}  # of the latest rollout, logged with each step record
        self.rollout_seconds = 0.0  # time spent collecting rollouts since the last logged record
        self.batch_fn, self.loss_fn, self.eval_fn = batch_fn, loss_fn, eval_fn
        self.step_loss = loss_fn  # loss_fn, or (compile, one process) loss_fn compiled with the model
        self.dtype = resolve_dtype(cfg.dtype, device)
        self.model = model.to(device)
        self.moe = moe_layers(self.model)  # mixture-of-experts layers, whose auxiliary losses join the loss
        for m in self.model.modules():
            if hasattr(m, "checkpoint_blocks"):  # GPT bodies (lmlab.models.gpt)
                m.checkpoint_blocks = cfg.activation_checkpointing
        # --parallel fsdp: sharded checkpoints at any number of processes (so a run resumes on any other), the
        # model itself sharded when there are several
        self.sharded_checkpoints = cfg.parallel == "fsdp"
        if self.sharded_checkpoints and dist_info.world_size > 1:
            shard_model(self.model, self.dtype, offload=cfg.fsdp_offload)
        self.optimizer = make_optimizer(self.model, cfg, device)
        self.peak_lrs = [group["lr"] for group in self.optimizer.param_groups]  # each group's own (AdamW's, Muon's)
        self.step = 0
        self.train_seconds = 0.0  # wall time spent in training steps (not evaluation), for max_seconds
        self.lr = cfg.lr  # the learning rate of the latest step
        self.tokens_per_step, self.flops_per_token, self.peak_flops = tokens_per_step, flops_per_token, peak_flops
        self.history: list[dict] = []
        self._stop = False
        self._tensorboard = None  # a SummaryWriter when tensorboard is installed, False when not

    # ---- state ----------------------------------------------------------------------------
    def state(self) -> dict:
        state = {
            "step": torch.tensor(self.step),
            "train_seconds": torch.tensor(self.train_seconds, dtype=torch.float64),
            "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self.rollouts is not None:
            state["rollouts"] = self.rollouts.state_dict()  # this rank's buffer; see resume()
            state["rollout_metrics"] = dict(self.rollout_metrics)
        return state

    def resume(self):
        """Continue from the run folder's latest checkpoint (weights, optimizer, step, RNG, time spent);
        a run that was killed before its first checkpoint starts again from step 0."""
        if self.dist.is_main:
            self.run.clean_temporary()
        if self.run.latest() is not None:
            state = self.run.load_training_state(self.model, self.optimizer)
            self.step = int(state["step"])
            self.train_seconds = float(state.get("train_seconds", 0.0))
            torch.set_rng_state(state["torch_rng"])
            if "cuda_rng" in state and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"], self.device)
            if self.rollouts is not None and self.step % self.rollouts.steps_per_rollout:
                # Mid-rollout: the buffer was sampled by weights that no longer exist; only the saved one continues
                # exactly. A run on several processes saves rank 0's buffer only, so it resumes at rollout bounds.
                if self.dist.world_size > 1:
                    raise LmlabError(
                        f"{self.run.path}: the checkpoint of step {self.step} lies inside a rollout; a run on several "
                        "processes resumes only from checkpoints at rollout boundaries (eval_interval a multiple of "
                        f"{self.rollouts.steps_per_rollout})"
                    )
                if "rollouts" not in state:
                    raise LmlabError(f"{self.run.path}: the checkpoint of step {self.step} holds no rollout buffer")
                self.rollouts.load_state_dict(state["rollouts"])
                self.rollout_metrics = dict(state.get("rollout_metrics", {}))
        if self.dist.is_main:
            self._trim_metrics()

    def save(self):
        if self.run is None:
            return
        if self.sharded_checkpoints:  # every process writes its shards
            self.run.save_checkpoint(
                self.step, self.model, self.optimizer, self.state(), self.cfg.keep_checkpoints, dist_info=self.dist
            )
        elif self.dist.is_main:
            self.run.save_checkpoint(self.step, self.model, self.optimizer, self.state(), self.cfg.keep_checkpoints)

    def _trim_metrics(self):
        """Drop metric lines written after the checkpoint we resume from (atomically), and damaged lines."""
        f = self.run.path / "metrics.jsonl"
        if not f.is_file():
            return
        kept = []
        for lineno, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            try:
                record = json.loads(line)
                step = int(record["step"])
            except (ValueError, TypeError, KeyError):
                if line.strip():
                    print(f"lmlab: warning: {f}:{lineno}: not a metrics record; dropped", file=sys.stderr)
                continue
            if step <= self.step:
                kept.append(record)
        atomic_write(f, lambda p: p.write_text("".join(json.dumps(r) + "\n" for r in kept)))
        self.history = kept

    def _log(self, record: dict):
        self.history.append(record)
        if self.dist.is_main and self.run is not None:
            with open(self.run.path / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if self._tensorboard is None:
                self._tensorboard = _tensorboard_writer(self.run.path / "tensorboard")
            if self._tensorboard:
                for key, value in record.items():
                    if key != "step":
                        self._tensorboard.add_scalar(key, value, record["step"])
                self._tensorboard.flush()

    # ---- the loop -------------------------------------------------------------------------
    def evaluate(self) -> dict:
        if self.eval_fn is None:
            return {}
        self.model.eval()
        with torch.no_grad(), autocast(self.device, self.dtype), gathered(self.model):
            metrics = self.eval_fn(self.model)
        self.model.train()
        return metrics

    def train_step(self, model) -> tuple[float, float, dict]:
        """One optimizer step over world * grad_accum micro-batches; returns (loss, grad norm, metrics)."""
        cfg, world, rank = self.cfg, self.dist.world_size, self.dist.rank
        time_fraction = self.time_fraction()
        self.lr = lr_at(self.step, cfg, time_fraction)
        for group, peak in zip(self.optimizer.param_groups, self.peak_lrs):
            group["lr"] = lr_at(self.step, cfg, time_fraction, peak)
        if self.rollouts is not None and self.step % self.rollouts.steps_per_rollout == 0:
            self.collect_rollouts()
        first = (self.step * world + rank) * cfg.grad_accum
        sums: dict[str, torch.Tensor] = {}  # "loss", "n" and the loss's metrics, summed over micro-batches
        for k in range(cfg.grad_accum):
            batch = {name: v.to(self.device, non_blocking=True) for name, v in self.batch_fn(first + k).items()}
            torch.manual_seed((cfg.seed << 32) + first + k)  # dropout masks: a function of (seed, index)
            last = k == cfg.grad_accum - 1
            if hasattr(model, "set_requires_gradient_sync"):  # FSDP: reduce-scatter after the last micro-batch only
                model.set_requires_gradient_sync(last)
            with model.no_sync() if world > 1 and not last and hasattr(model, "no_sync") else contextlib.nullcontext():
                for layer in self.moe:  # a recomputed forward (activation checkpointing) leaves terms behind
                    layer.aux.clear()
                with autocast(self.device, self.dtype):
                    loss = self.step_loss(model, batch)
                # a mixture of experts' auxiliary losses (lmlab.models.moe): a mean per forward, weighted by its count
                aux, moe_metrics = aux_losses(self.moe)
                total = loss.sum if aux is None else loss.sum + aux * loss.n
                # DDP and FSDP average gradients over processes: times world, they are the sum over all
                # micro-batches, divided by the step's total count below.
                (total * world).backward()
            terms = {
                "loss": loss.sum.detach(),
                "n": torch.as_tensor(loss.n, dtype=torch.float32, device=self.device),
                **loss.metrics,
                **{name: value * loss.n for name, value in moe_metrics.items()},
            }
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.detach().float()
        names = list(sums)
        totals = torch.stack([sums[name] for name in names])
        if world > 1:
            dist.all_reduce(totals)
        totals = dict(zip(names, totals.tolist()))
        n = max(totals.pop("n"), 1.0)
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        for g in grads:
            g.div_(n)  # the mean over the step's n terms
        if cfg.grad_clip > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            if hasattr(grad_norm, "full_tensor"):  # FSDP: a DTensor
                grad_norm = grad_norm.full_tensor()
        else:
            grad_norm = full_grad_norm(grads)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return totals.pop("loss") / n, float(grad_norm), {name: value / n for name, value in totals.items()}

    def collect_rollouts(self):
        t = time.perf_counter()
        self.model.eval()
        with torch.no_grad(), gathered(self.model):
            metrics = self.rollouts.collect(self.model, self.step)
        self.model.train()
        if self.dist.world_size > 1 and metrics:
            values = torch.tensor(list(metrics.values()), dtype=torch.float64, device=self.device)
            dist.all_reduce(values)
            metrics = dict(zip(metrics, (values / self.dist.world_size).tolist()))
        self.rollout_metrics = metrics
        self.rollout_seconds += time.perf_counter() - t

    def time_fraction(self) -> float:
        return self.train_seconds / self.cfg.max_seconds if self.cfg.max_seconds > 0 else 0.0

    def done(self) -> bool:
        return self.step >= self.cfg.max_iters or self.time_fraction() >= 1.0

    def _timed_step(self, model) -> tuple[float, float, dict]:
        t = time.perf_counter()
        loss, grad_norm, metrics = self.train_step(model)  # .tolist() waits for the device
        elapsed = time.perf_counter() - t
        if self.cfg.max_seconds > 0 and self.dist.world_size > 1:
            slowest = torch.tensor(elapsed, dtype=torch.float64, device=self.device)
            dist.all_reduce(slowest, op=dist.ReduceOp.MAX)  # every rank stops at the same step
            elapsed = float(slowest)
        self.train_seconds += elapsed
        return loss, grad_norm, metrics

    def fit(self) -> TrainResult:
        cfg = self.cfg
        model = self.model
        compile = cfg.compile
        if compile and (why := compile_unsupported(self.device)):
            print(f"lmlab: --compile skipped: {why}; training eagerly", file=sys.stderr)
            compile = False
        if compile and self.dist.world_size == 1:
            # The loss compiled with the model: inductor fuses the fp32 upcast and log-softmax of the logits into
            # the graph instead of writing (B, T, V) fp32 copies (on a GPU, gpt2-124m: bench/gpu.py).
            self.step_loss = torch.compile(self.loss_fn)
        elif compile:
            model = torch.compile(model)  # under DDP: the model alone, DDP(compiled) as torch's DDP notes advise
        if self.dist.world_size > 1 and not self.sharded_checkpoints:  # fsdp: shard_model already wrapped it
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=ids)
        model.train()
        previous = signal.signal(signal.SIGINT, self._request_stop) if _main_thread() else None
        timed = cfg.max_seconds > 0  # then the bar counts seconds of the budget, so its ETA is right
        bar = tqdm(
            total=round(cfg.max_seconds) if timed else cfg.max_iters,
            initial=round(self.train_seconds) if timed else self.step,
            desc="train",
            unit="s" if timed else "step",
            disable=not (cfg.progress and self.dist.is_main),
            dynamic_ncols=True,
        )
        last_metrics: dict = {}
        try:
            t0, steps_timed = time.perf_counter(), 0
            while not self.done() and not self._stop:
                loss, grad_norm, step_metrics = self._timed_step(model)
                steps_timed += 1
                is_last = self.done()
                # Step 1 is always logged: its loss is that of the initial weights (for DPO, ln 2).
                if self.step % cfg.log_interval == 0 or self.step == 1 or is_last or self.step % cfg.eval_interval == 0:
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    dt = time.perf_counter() - t0
                    tokens_per_s = self.tokens_per_step * steps_timed / dt if dt > 0 else 0.0
                    record = {
                        "step": self.step,
                        "loss": loss,
                        **step_metrics,
                        **self.rollout_metrics,
                        "lr": self.lr,
                        "grad_norm": grad_norm,
                        "tokens_per_s": tokens_per_s,
                    }
                    if self.flops_per_token and self.peak_flops:
                        record["mfu"] = tokens_per_s * self.flops_per_token / self.peak_flops
                    if self.rollouts is not None:
                        record["time/rollout_share"] = self.rollout_seconds / dt if dt > 0 else 0.0
                        self.rollout_seconds = 0.0
                    checkpoint = self.step % cfg.eval_interval == 0 or is_last
                    if checkpoint:
                        record.update(self.evaluate())
                    self._log(record)  # before the checkpoint is published, so a kill between them loses no record
                    if checkpoint:
                        self.save()
                    last_metrics = record
                    bar.set_postfix(
                        {k.split("/")[-1]: f"{v:.4g}" for k, v in record.items() if k in self.progress_keys},
                        refresh=False,
                    )
                    t0, steps_timed = time.perf_counter(), 0
                bar.update(min(round(self.train_seconds), bar.total) - bar.n if timed else 1)
            if self._stop and self.step % cfg.eval_interval != 0:
                self.save()  # interrupted: keep the last completed step so --resume continues exactly
        finally:
            bar.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return TrainResult(self.step, last_metrics, interrupted=self._stop)

    def _request_stop(self, signum, frame):
        if self._stop:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self._stop = True


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _tensorboard_writer(path):
    """Metrics go to TensorBoard too when it is installed (`pip install tensorboard`)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return False
    return SummaryWriter(str(path))
