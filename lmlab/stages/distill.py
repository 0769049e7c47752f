"""Distillation: a student learns from a teacher run's next-token distributions (lmlab.losses.distill).

`lmlab distill --teacher RUN` trains a student, either a new model of the `model` section (the default preset
`half`: `lmlab run`'s pre-trained model at 176 wide instead of 256, 0.54x its parameters) with the teacher's
tokenizer, or an existing run (`--student RUN`, same tokenizer; `--init` is the model section's weight
initialisation, as in pretrain), on
- pre-training text (`--data`: a built-in corpus or a file, as `lmlab pretrain`; default the teacher's own corpus):
  every position's divergence, batches and held-out bits per byte as in pre-training;
- or conversations (`--data chat`, `tasks` or a JSONL file, as `lmlab sft`): the divergence at the assistant tokens
  only, batches and validation loss as in SFT.
The teacher runs in the same step on the same batch, frozen (no gradient, eval mode); its logits are computed where
the student's are, so nothing is stored. `--on-policy L` (conversations): a share L of the micro-batches replace
each conversation's first assistant reply by one the student samples itself, and the divergence is taken on those
tokens (GKD's on-policy distillation: the student learns where its own mistakes lead). `--loss forward_kl |
reverse_kl | jsd` (`--jsd-beta`), `--temperature` and `--hard-weight` (the cross-entropy of the data's own tokens
beside the divergence) choose the objective; the metrics log the divergence and the cross-entropy apart. Each
evaluation adds `val_kl`, the forward KL from teacher to student on held-out batches.
"""

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from lmlab.config import StageConfig, TrainConfig, opt, section_from_dict
from lmlab.data.batching import head_mask
from lmlab.data.tokens import prepare_data, random_batch
from lmlab.errors import LmlabError
from lmlab.eval.perplexity import held_out_metrics
from lmlab.inference.generate import generate_batch, stop_ids
from lmlab.losses import IGNORE
from lmlab.losses.distill import KINDS, distillation_loss, divergence
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.runs import RunFolder, load_run
from lmlab.stages.recipe import Context, Recipe, new_model, train_stage
from lmlab.stages.sft import BUILTINS, BucketedBatches, builtin_draws, collate, masked_loss, prepare_sft_data

HALF = dict(n_layer=4, n_head=4, n_embd=176, block_size=128, pos_encoding="rope", norm="rmsnorm", mlp="swiglu",
            bias=False)  # fmt: skip


@dataclass
class DistillSection:
    teacher: str = opt("", "the teacher: a causal-LM GPT run")
    student: str = opt("", "the student run to start from (same tokenizer); empty: a new student of the model section")
    data: str = opt(
        "",
        "pre-training text (a built-in corpus or a file; default: the teacher's corpus) or conversations ('chat', "
        "'tasks' or a JSONL file: the loss on assistant tokens only)",
    )
    loss: str = opt("forward_kl", "forward_kl | reverse_kl | jsd (GKD's generalized JSD)", KINDS)
    jsd_beta: float = opt(0.5, "jsd: the teacher's weight beta in the mixture m = beta p + (1 - beta) q")
    temperature: float = opt(1.0, "both distributions at this temperature; the loss times its square")
    hard_weight: float = opt(0.0, "weight of the cross-entropy of the data's own next tokens beside the divergence")
    on_policy: float = opt(
        0.0,
        "conversations: the share of micro-batches whose first assistant replies the student samples itself "
        "(GKD's lambda), the divergence then taken on its own tokens",
    )


@dataclass
class DistillConfig(StageConfig):
    STAGE: ClassVar[str] = "distill"
    PRESETS: ClassVar[dict[str, dict]] = {
        "half": dict(HALF, max_iters=2000, batch_size=16, lr=2e-3, min_lr=2e-4, warmup_iters=100, eval_interval=250,
                     eval_iters=10),
        "tiny": dict(n_layer=1, n_head=2, n_embd=16, block_size=32, max_iters=6, batch_size=4, lr=3e-3,
                     warmup_iters=2, eval_interval=3, eval_iters=2, log_interval=1),
    }  # fmt: skip
    model: ModelConfig = field(default_factory=lambda: ModelConfig(**HALF))
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillSection = field(default_factory=DistillSection)


def distill(config: DistillConfig | None = None, teacher: str | Path | None = None, out: str | Path | None = None,
            resume: str | Path | None = None, overrides: dict | None = None) -> Path:  # fmt: skip
    """Train a student on the teacher run `teacher` (the config's distill.teacher); returns the run folder."""
    given = {**({"teacher": str(teacher)} if teacher else {}), **(overrides or {})}
    config = DistillConfig.build(base=config.to_dict() if config else None, overrides=given)
    if not resume:
        check_settings(config.distill)
    return train_stage(config, build, out, resume, given if resume else None)


def check_settings(d: DistillSection):
    if not d.teacher:
        raise LmlabError("distill needs --teacher RUN: the run whose distributions the student learns")
    if d.loss == "jsd" and not 0 < d.jsd_beta < 1:
        raise LmlabError(f"--jsd-beta {d.jsd_beta}: expected a value between 0 and 1 (0 and 1 are the two KLs)")
    if d.temperature <= 0 or d.hard_weight < 0:
        raise LmlabError("--temperature must be positive and --hard-weight not negative")
    if not 0 <= d.on_policy <= 1:
        raise LmlabError(f"--on-policy {d.on_policy}: expected a share between 0 and 1")


def causal_gpt(run: RunFolder, role: str) -> dict:
    record = run.read_config()
    if record.get("model_kind") != "causal-lm" or record["model"].get("arch", "gpt") != "gpt":
        raise LmlabError(f"{run.path}: the {role} must be a causal-LM GPT run (it is a {record.get('stage')} run of "
                         f"a {record.get('model_kind')} {record['model'].get('arch')})")  # fmt: skip
    return record


def build(config: DistillConfig, ctx: Context) -> Recipe:
    d, t = config.distill, config.train
    teacher_run = RunFolder(d.teacher)
    teacher_record = causal_gpt(teacher_run, "teacher")
    tokenizer = teacher_run.tokenizer()
    model_config, init_weights = config.model, None  # a new student, or (resuming) the run's own
    if d.student:
        student = RunFolder(d.student)
        if not ctx.resuming:
            model_config = section_from_dict(ModelConfig, causal_gpt(student, "student")["model"], str(student.path))
            if student.tokenizer().sha256() != tokenizer.sha256():
                raise LmlabError(f"{student.path}: the student's tokenizer is not the teacher's ({teacher_run.path})")
        init_weights = student.load_weights  # also for a run killed before its first checkpoint
    if model_config.arch != "gpt":
        raise LmlabError(f"--arch {model_config.arch}: the student is a GPT")
    model = new_model(build_model, model_config, tokenizer.vocab_size, t.seed)
    T = model_config.block_size
    teacher = load_run(teacher_run.path, ctx.device).model.eval().requires_grad_(False)
    if teacher.config.block_size < T:
        raise LmlabError(f"the student's context ({T}) is longer than the teacher's ({teacher.config.block_size})")
    kd = functools.partial(distillation_loss, kind=d.loss, beta=d.jsd_beta, temperature=d.temperature,
                           hard_weight=d.hard_weight)  # fmt: skip
    corpus = teacher_record.get("corpus") or {}
    data_name = d.data or corpus.get("data", "")
    if not data_name:
        raise LmlabError(f"{teacher_run.path}: its record names no corpus; give --data")
    record = {"teacher": {"run": str(teacher_run.path.resolve()), "weights_sha256": teacher_run.weights_sha256()}}

    if data_name in BUILTINS or data_name.endswith(".jsonl"):  # conversations, as SFT
        sft_data = prepare_sft_data(data_name, tokenizer, T, t.seed, builtin_draws(t, ctx.dist.world_size))
        pad_id = tokenizer.special_id("<|pad|>")
        bucketed = BucketedBatches(sft_data.train, t.batch_size, t.seed, pad_id)

        def batches(index: int) -> dict:
            return {**bucketed(index), "index": torch.tensor(index)}

        def loss(model, batch):
            index = int(batch["index"])
            if d.on_policy and np.random.default_rng([t.seed, index, 1]).random() < d.on_policy:
                batch = student_replies(model, batch, stop_ids(tokenizer), pad_id, seed=t.seed * 1_000_003 + index)
                batch = {k: v.to(ctx.device) for k, v in batch.items()}
            head = head_mask(batch["targets"], IGNORE)
            with torch.no_grad():
                teacher_logits = teacher(batch["inputs"], target_mask=head)
            return kd(model(batch["inputs"], target_mask=head), teacher_logits, batch["targets"][head])

        def evaluate(model) -> dict:
            held = sft_val_batches(sft_data, pad_id, t.batch_size)
            return {"val_loss": masked_loss(model, sft_data.val, t.batch_size, pad_id, ctx.device),
                    "val_kl": held_out_kl(model, teacher, held, ctx.device)}  # fmt: skip

        tokens_per_batch = bucketed.tokens_per_batch
        record["sft_data"] = {"conversations": sft_data.train.rendered, "data": data_name}
    else:  # text, as pre-training
        if d.on_policy:
            raise LmlabError(
                "--on-policy needs conversations (--data chat, tasks or a JSONL file): text has no prompts"
            )
        val_fraction = corpus.get("val_fraction", 0.1) if data_name == corpus.get("data") else 0.1
        cache = corpus.get("cache_dir") or None
        progress = t.progress and ctx.dist.is_main
        data = ctx.main_first(lambda: prepare_data(data_name, tokenizer, val_fraction, cache, progress))
        data.check_fits(T)

        def batches(index: int) -> dict:
            x, y = random_batch(data.train, index, t.batch_size, T, t.seed)
            return {"inputs": x, "targets": y}

        def loss(model, batch):
            with torch.no_grad():
                teacher_logits = teacher(batch["inputs"])
            return kd(model(batch["inputs"]), teacher_logits, batch["targets"])

        def evaluate(model) -> dict:
            metrics = held_out_metrics(model, data, t.eval_iters, t.batch_size, T, t.seed + 1, ctx.device)
            held = [random_batch(data.val, i, t.batch_size, T, t.seed + 1) for i in range(t.eval_iters)]
            metrics["val_kl"] = held_out_kl(model, teacher, [{"inputs": x, "targets": y} for x, y in held], ctx.device)
            return metrics

        tokens_per_batch = t.batch_size * T
        record["corpus"] = {"data": data_name, "val_fraction": val_fraction, "cache_dir": corpus.get("cache_dir", "")}
    return Recipe(model, tokenizer, batches, loss, evaluate, tokens_per_batch=tokens_per_batch, record=record,
                  init_weights=init_weights, progress_keys=("loss", "val_kl", "tokens_per_s"))  # fmt: skip


def student_replies(model, batch: dict, stop: tuple[int, ...], pad_id: int, seed: int) -> dict:
    """The batch with each conversation cut after its first assistant prompt and answered by the model itself
    (sampled at temperature 1, up to a stop token or the context): inputs and targets of those replies, the reply
    tokens learned (GKD's on-policy data)."""
    core = model.module if hasattr(model, "module") else model
    learned = batch["targets"] != IGNORE
    prompts = [batch["inputs"][b, : int(learned[b].nonzero()[0]) + 1].tolist() for b in range(len(learned))]
    block = core.config.block_size
    training = core.training
    try:
        replies = generate_batch(core, prompts, block, seed=seed, stop_ids=stop, include_stop=True)
    finally:
        core.train(training)
    examples = []
    for prompt, reply in zip(prompts, replies):
        ids = (prompt + reply)[: block + 1]
        examples.append((ids, [0] * len(prompt) + [1] * (len(ids) - len(prompt))))
    return collate(examples, pad_id)


def sft_val_batches(sft_data, pad_id: int, batch_size: int) -> list[dict]:
    val = [sft_data.val[i] for i in range(len(sft_data.val))]
    return [collate(val[i : i + batch_size], pad_id) for i in range(0, len(val), batch_size)]


@torch.no_grad()
def held_out_kl(student, teacher, batches: list[dict], device) -> float:
    """The forward KL(teacher || student) per learned position over held-out batches, at temperature 1."""
    total, count = 0.0, 0
    for batch in batches:
        inputs, targets = batch["inputs"].to(device), batch["targets"].to(device)
        keep = targets != IGNORE
        kl = divergence(student(inputs)[keep], teacher(inputs)[keep], "forward_kl")
        total, count = total + float(kl.sum()), count + int(keep.sum())
    return total / max(count, 1)
