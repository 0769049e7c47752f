"""The one path every training stage takes: set up or resume the run folder, join DDP, let the
stage build its parts, train them with the one Trainer, and return the run folder.

A stage is a StageConfig subclass (its sections and defaults) and a build function
    build(config, ctx) -> Recipe
that supplies what makes the stage itself: the model (with its tokenizer), the batches, the loss
and the evaluation. Everything else (run folders, resume, DDP, precision, schedule, checkpoints,
metrics) happens here and in lmlab.trainer, once for all stages.

LoRA, for every fine-tuning stage (a FineTuneConfig: its `lora` section): after the stage's starting weights are
loaded, the model is frozen and given adapters (lmlab.models.lora) before the optimizer sees it, so only the adapters
(and the modules trained in full) carry gradients and optimizer state. The run saves only the adapter and names its
base (the init run) with the sha256 of its weights; a resumed run reloads the base, checks that hash, and continues
from the adapter checkpoint.

--parallel fsdp shards the model over the processes (lmlab.sharding) for every stage alike. A run records the
number of processes it ran on (world_size); resumed on another number, its accumulation adjusts so that the global
batch (processes x accumulation) stays the same, unless --grad-accum is given.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch

from lmlab.config import StageConfig
from lmlab.device import (
    Distributed,
    barrier,
    init_distributed,
    main_process_first,
    measure_peak_flops,
    resolve_dtype,
)
from lmlab.errors import LmlabError
from lmlab.losses import Loss
from lmlab.models import lora
from lmlab.models.config import ModelConfig
from lmlab.models.lora import LoraSection
from lmlab.models.moe import check_moe
from lmlab.runs import RunFolder
from lmlab.sharding import gathered
from lmlab.tokenizer import Tokenizer
from lmlab.trainer import Rollouts, Trainer


def default_out(stage: str) -> Path:
    return Path("runs") / f"{stage}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


@dataclass
class FineTuneConfig(StageConfig):
    """A stage that starts from a trained run (its section's `init`): it may train LoRA adapters instead."""

    lora: LoraSection = field(default_factory=LoraSection)

    def init_path(self) -> str:
        section, _ = self.fields()["init"]
        return getattr(getattr(self, section), "init")


@dataclass
class Context:
    """Where a stage's recipe is built: its run folder, device and processes."""

    run: RunFolder
    device: torch.device
    dist: Distributed
    resuming: bool
    record: dict  # the run record being resumed ({} for a new run)

    def main_first(self, fn):
        """fn() on rank 0 first (it may write caches), then on the other ranks."""
        return main_process_first(self.dist, fn)


@dataclass
class Recipe:
    """What a stage hands to the one training loop."""

    model: torch.nn.Module  # has .config, the architecture written to the run record
    tokenizer: Tokenizer
    batches: Callable[[int], dict]  # micro-batch `index`, a pure function of the index
    loss: Callable[[torch.nn.Module, dict], Loss]
    evaluate: Callable[[torch.nn.Module], dict] | None = None
    tokens_per_batch: float = 0.0  # tokens one micro-batch computes on, for tokens/s and MFU
    model_kind: str = "causal-lm"  # what the run holds (lmlab.runs.MODEL_KINDS)
    record: dict = field(default_factory=dict)  # extra entries for the run record
    init_weights: Callable[[torch.nn.Module], None] | None = None  # the starting weights (default: random)
    always_trained: tuple[str, ...] = ()  # with LoRA: new modules trained in full (a reward model's score)
    base_module: str = ""  # with LoRA: the submodule the init run's weights load into ("" the model; "gpt")
    finish: Callable[[torch.nn.Module, RunFolder], None] | None = None  # after training, on rank 0
    rollouts: Rollouts | None = None  # on-policy stages: the rollout hook (lmlab.trainer.Rollouts)
    progress_keys: tuple[str, ...] = ("loss", "val_loss", "tokens_per_s")  # the metrics the progress bar shows


def train_stage(
    config: StageConfig,
    build: Callable[[StageConfig, Context], Recipe],
    out: str | Path | None = None,
    resume: str | Path | None = None,
    overrides: dict | None = None,
) -> Path:
    """Train a new run of config's stage in `out`, or continue the run `resume`; returns the run folder.

    On resume the saved config is the base and only explicitly given overrides change it.
    """
    stage = config.STAGE
    if isinstance(getattr(config, "model", None), ModelConfig):
        check_moe(config.model)  # before anything is read or written
    run = RunFolder(resume or out or default_out(stage))
    dist_info, device = init_distributed(config.train.device)
    # Rank 0 checks and claims the folder (the other ranks only read a resumed run's record), and holds
    # its lock for the whole run: a second process gets one line, not a corrupted run.
    checks = dist_info.is_main or bool(resume)
    if checks:
        check_folder(run, stage, bool(resume))  # before the lock: a refused folder is not touched
    lock = run.lock() if dist_info.is_main else None
    started = False
    try:
        record = check_folder(run, stage, bool(resume)) if checks else {}  # again under the lock: atomic
        if resume:
            saved = {name: record[name] for name in type(config).section_types() if name in record}
            config = type(config).build(base=saved, overrides=overrides)
            keep_global_batch(config.train, record, dist_info, overrides or {}, run)
        check_parallel(config, dist_info)
        recipe = build(config, Context(run, device, dist_info, bool(resume), record))
        model, t = recipe.model, config.train
        adapters = uses_lora(config)
        if resume and adapters != bool(record.get("adapter")):
            raise LmlabError(f"{run.path}: a run keeps its LoRA setting (lora {bool(record.get('adapter'))})")
        if adapters:  # the settings and the base, checked before anything is written
            lora.check_lora(model, config.lora)
            check_base_precision(config, device)
            adapter = record.get("adapter") if resume else adapter_entry(config, recipe)
            if resume:
                run.base_run()  # still there, and unchanged
        if not resume and dist_info.is_main:
            entries = {**config.to_dict(), "model": dataclasses.asdict(model.config), **recipe.record,
                       "world_size": dist_info.world_size}  # fmt: skip
            run.create({**entries, **({"adapter": adapter} if adapters else {})}, stage, recipe.model_kind,
                       recipe.tokenizer)  # fmt: skip
        started = True
        if lock is not None:
            lock.claim()
        # The starting weights: for a new run (or one killed before a checkpoint), and always under a LoRA run's
        # adapters, whose checkpoints hold only what trained.
        if (run.latest() is None or adapters) and recipe.init_weights is not None:
            recipe.init_weights(model)
        if adapters:
            lora.add_adapters(model, config.lora, t.seed, recipe.always_trained)
        world = dist_info.world_size
        flops_per_token = model.flops_per_token() if hasattr(model, "flops_per_token") else 0.0
        if adapters:  # no weight gradients of the base: 4N FLOPs a token of the 6N (the adapters' own aside)
            flops_per_token *= 4 / 6
        trainer = Trainer(
            model,
            t,
            run,
            recipe.batches,
            recipe.loss,
            recipe.evaluate,
            device,
            dist_info,
            tokens_per_step=round(recipe.tokens_per_batch * t.grad_accum * world),
            flops_per_token=flops_per_token,
            peak_flops=measure_peak_flops(device, resolve_dtype(t.dtype, device)) * world,
            rollouts=recipe.rollouts,
            progress_keys=recipe.progress_keys,
        )
        if resume:
            trainer.resume()
        trainer.fit()
        if recipe.finish is not None:
            with gathered(trainer.model.eval()):  # rank 0 alone runs the whole (all-gathered) model
                if dist_info.is_main:
                    recipe.finish(trainer.model, run)
                if trainer.sharded_checkpoints:
                    barrier(dist_info)  # the others keep their part gathered until rank 0 is done
    finally:
        if lock is not None:
            lock.release(discard=not started)  # bad input leaves no folder behind
    return run.path


def keep_global_batch(t, record: dict, dist_info: Distributed, overrides: dict, run: RunFolder):
    """A run resumed on another number of processes keeps its global batch: the accumulation adjusts."""
    world = dist_info.world_size
    saved_world = int(record.get("world_size", world))
    if saved_world == world:
        return
    if "grad_accum" not in overrides:
        micro = saved_world * int(record.get("train", {}).get("grad_accum", t.grad_accum))
        if micro % world:
            raise LmlabError(
                f"{run.path}: ran on {saved_world} processes x {micro // saved_world} micro-batches; {world} processes "
                f"cannot share its {micro} micro-batches a step evenly (give --grad-accum to change the global batch)"
            )
        t.grad_accum = micro // world
    if dist_info.is_main:
        train = {**record.get("train", {}), "grad_accum": t.grad_accum}
        run.update_record({"train": train, "world_size": world})


def check_parallel(config: StageConfig, dist_info: Distributed):
    t = config.train
    if t.parallel != "fsdp":
        if t.fsdp_offload:
            raise LmlabError("--fsdp-offload offloads FSDP's shards; it needs --parallel fsdp")
        return
    if uses_lora(config):
        raise LmlabError(
            "--parallel fsdp with --lora: not supported yet (LoRA's frozen base is meant to fit one device)"
        )
    if t.optimizer != "adamw":
        raise LmlabError(f"--parallel fsdp trains with AdamW; --optimizer {t.optimizer} is not supported with it yet")
    if t.fsdp_offload and not torch.cuda.is_available():
        raise LmlabError("--fsdp-offload moves FSDP's shards from GPU to CPU memory; this machine has no CUDA GPU")


def uses_lora(config: StageConfig) -> bool:
    return isinstance(config, FineTuneConfig) and config.lora.enabled


def adapter_entry(config: FineTuneConfig, recipe: Recipe) -> dict:
    """The run record's "adapter" entry of a new LoRA run: its base (the init run) and the sha256 of its weights."""
    base = RunFolder(config.init_path())
    return {"base": str(base.path.resolve()), "base_sha256": base.weights_sha256(), "base_module": recipe.base_module}


def check_base_precision(config: FineTuneConfig, device):
    if config.lora.lora_base_dtype == "bfloat16" and resolve_dtype(config.train.dtype, device) != torch.bfloat16:
        raise LmlabError(
            "lora_base_dtype bfloat16 needs bf16 autocast (--dtype bfloat16, or auto on hardware with native bf16): "
            "the float32 matmuls would meet bf16 weights"
        )


def given_config(config_cls, config: StageConfig | None, init=None, data=None, overrides: dict | None = None):
    """(config, given): a stage's config from a base config, the init run and data passed directly (its `init` and
    `data` fields) and overrides; and what was given, which is all a resumed run changes."""
    given = {**({"init": str(init)} if init else {}), **({"data": str(data)} if data else {}), **(overrides or {})}
    return config_cls.build(base=config.to_dict() if config else None, overrides=given), given


def check_folder(run: RunFolder, stage: str, resume: bool) -> dict:
    """The run record to resume (a run of this stage), or {} for a new run in a folder that holds none."""
    if resume:
        record = run.read_config()
        if record.get("stage") != stage:
            raise LmlabError(f"{run.path}: is a {record.get('stage')} run, not a {stage} run")
        return record
    if (run.path / "config.yaml").exists():
        raise LmlabError(f"{run.path}: already holds a run; use --resume {run.path} or another --out")
    if (run.path / "ckpt").exists() or (run.path / "ckpt").is_symlink():
        raise LmlabError(f"{run.path}: holds a ckpt folder but no run; give an empty or new folder as --out")
    return {}


def new_model(build_fn, model_config, vocab_size: int, seed: int) -> torch.nn.Module:
    """A freshly initialised model of model_config with the tokenizer's vocabulary, seeded."""
    model_config.vocab_size = vocab_size
    torch.manual_seed(seed)
    return build_fn(model_config)
