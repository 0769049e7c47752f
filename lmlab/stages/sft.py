"""Stage 2, supervised fine-tuning (SFT): teach a pre-trained model to answer in the chat template.

The loss is the next-token cross-entropy on assistant tokens only (Ouyang et al. 2022, sec. 3.5):
    L = - sum_{t: m_t = 1} log p(x_t | x_<t) / sum_t m_t
with m the loss mask of lmlab.data.conversations (assistant content and its <|end|>), normalised per
target token over the whole step by the Trainer.

A batch is B conversations right-padded to the longest of them. The causal mask already keeps a
conversation from seeing the padding after it, and padded targets are -100, so padding changes
nothing but compute. To keep that compute small, batches are length-bucketed: each epoch is
shuffled by (seed, epoch), cut into windows of BUCKET_WINDOW batches, each window sorted by length
and sliced into batches, and the batch order shuffled again. Batch `index` is a pure function of
(seed, index), so resume and torchrun read exactly the batches of one uninterrupted process.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from lmlab.config import StageConfig, TrainConfig, opt, section_from_dict
from lmlab.data import tasks
from lmlab.data.conversations import read_conversations, render_all, truncate
from lmlab.errors import LmlabError
from lmlab.eval.task_accuracy import HEADLINE_TASKS, accuracy
from lmlab.losses import IGNORE, Loss, cross_entropy
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.runs import RunFolder
from lmlab.stages.recipe import Context, Recipe, new_model, train_stage
from lmlab.tokenizer import Tokenizer

BUCKET_WINDOW = 16  # batches sorted by length together
VAL_PER_TASK = 16  # held-out conversations per built-in task in the validation loss
EVAL_TASK_N = 24  # held-out instances per headline task measured at each evaluation (the learning curve)
BUILTIN = "tasks"  # the data name of the built-in task mixture


@dataclass
class SFTDataConfig:
    init: str = opt("", "the run to fine-tune: any causal-LM run (pre-trained or fine-tuned)")
    data: str = opt(
        BUILTIN, "conversational or prompt/completion JSONL, a datasets folder, or 'tasks' (the built-in task mixture)"
    )
    dropout: float = opt(0.0, "dropout while fine-tuning (the rest of the architecture is the init run's)")


def sft_training_defaults() -> TrainConfig:
    # From cpu-small these take about 6 minutes on 2 CPU cores (96 conversations of ~25 tokens a
    # step, about 2,300 tokens, like a cpu-small pre-training step).
    return TrainConfig(max_iters=1200, batch_size=96, lr=1e-3, min_lr=1e-4, warmup_iters=50, eval_interval=400)


@dataclass
class SFTConfig(StageConfig):
    STAGE: ClassVar[str] = "sft"
    PRESETS: ClassVar[dict[str, dict]] = {
        "quick": dict(max_iters=150, eval_interval=75, warmup_iters=15),  # lmlab run --quick
        "tiny": dict(max_iters=6, batch_size=4, eval_interval=3, warmup_iters=2, log_interval=1),  # tests, smoke runs
    }
    train: TrainConfig = field(default_factory=sft_training_defaults)
    sft: SFTDataConfig = field(default_factory=SFTDataConfig)


@dataclass
class SFTData:
    train: list[tuple[list[int], list[int]]]  # (ids, loss mask) per conversation
    val: list[tuple[list[int], list[int]]]
    n_conversations: int
    truncated: int
    dropped: int


def prepare_sft_data(data: str, tokenizer: Tokenizer, block_size: int, seed: int) -> SFTData:
    """Read (or generate, for BUILTIN) conversations, render them and apply the truncation rule."""
    if data == BUILTIN:
        conversations = tasks.builtin_conversations(tasks.BUILTIN_SIZE, seed)
        val_conversations = tasks.held_out_conversations(VAL_PER_TASK)
    else:
        everything = read_conversations(data)
        # Every 20th conversation is held out for the validation loss, when there are enough.
        held = [i % 20 == 19 and len(everything) >= 20 for i in range(len(everything))]
        conversations = [c for c, h in zip(everything, held) if not h]
        val_conversations = [c for c, h in zip(everything, held) if h][:500]
    limit = block_size + 1
    rendered = render_all(tokenizer, conversations)
    train = [kept for ids, mask in rendered if (kept := truncate(ids, mask, limit))]
    val = [kept for ids, mask in render_all(tokenizer, val_conversations) if (kept := truncate(ids, mask, limit))]
    if not train:
        raise LmlabError(f"{data}: no conversation has an assistant token within the {limit}-token context")
    truncated = sum(len(ids) > limit for ids, _ in rendered)
    return SFTData(train, val, len(conversations), truncated, len(conversations) - len(train))


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict:
    """Right-pad conversations into inputs (B, T) and targets (B, T), -100 where not learned."""
    T = max(len(ids) for ids, _ in examples) - 1
    inputs = torch.full((len(examples), T), pad_id, dtype=torch.long)
    targets = torch.full((len(examples), T), -100, dtype=torch.long)
    for b, (ids, mask) in enumerate(examples):
        n = len(ids) - 1
        inputs[b, :n] = torch.tensor(ids[:-1])
        targets[b, :n] = torch.tensor(ids[1:]).masked_fill(~torch.tensor(mask[1:], dtype=torch.bool), -100)
    return {"inputs": inputs, "targets": targets}


class BucketedBatches:
    """batch_fn for the Trainer: micro-batch `index` of endless length-bucketed epochs (module docstring)."""

    def __init__(self, examples: list, batch_size: int, seed: int, pad_id: int, window: int = BUCKET_WINDOW):
        self.examples, self.batch_size, self.seed, self.pad_id, self.window = examples, batch_size, seed, pad_id, window
        self.lengths = np.array([len(ids) for ids, _ in examples])
        self._cached: tuple[int, list] | None = None
        self.batches_per_epoch = len(self.epoch(0))
        # Mean tokens a batch computes on (padding excluded), for the Trainer's tokens/s.
        self.tokens_per_batch = float((self.lengths - 1).sum()) / self.batches_per_epoch

    def epoch(self, e: int) -> list[np.ndarray]:
        if self._cached is None or self._cached[0] != e:
            rng = np.random.default_rng([self.seed, e])
            order, size = rng.permutation(len(self.examples)), self.batch_size * self.window
            batches = []
            for start in range(0, len(order), size):
                chunk = order[start : start + size]
                chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
                batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
            self._cached = (e, [batches[i] for i in rng.permutation(len(batches))])
        return self._cached[1]

    def __call__(self, index: int) -> dict:
        e, k = divmod(index, self.batches_per_epoch)
        return collate([self.examples[i] for i in self.epoch(e)[k]], self.pad_id)


def sft_loss(model, batch: dict) -> Loss:
    """The cross-entropy of the assistant targets, the output head run only there (GPT's target_mask)."""
    mask = batch["targets"] != IGNORE
    return cross_entropy(model(batch["inputs"], target_mask=mask), batch["targets"][mask])


@torch.no_grad()
def masked_loss(model, examples: list, batch_size: int, pad_id: int, device) -> float:
    """Mean loss per assistant token over examples (batched in length order, to pad little)."""
    ordered = sorted(examples, key=lambda e: len(e[0]))
    total, count = 0.0, 0
    for i in range(0, len(ordered), batch_size):
        batch = {k: v.to(device) for k, v in collate(ordered[i : i + batch_size], pad_id).items()}
        loss = sft_loss(model, batch)
        total, count = total + float(loss.sum), count + loss.n
    return total / max(count, 1)


def sft(
    config: SFTConfig | None = None,
    init: str | Path | None = None,
    data: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    overrides: dict | None = None,
) -> Path:
    """Fine-tune the run `init` on chat data (a file, or the built-in task mixture); returns the new run folder.

    init and data are the config's sft.init and sft.data, given directly.
    """
    given = {**({"init": str(init)} if init else {}), **({"data": str(data)} if data else {}), **(overrides or {})}
    config = SFTConfig.build(base=config.to_dict() if config else None, overrides=given)
    if not resume and not config.sft.init:
        raise LmlabError("sft needs --init RUN: the pre-trained run to fine-tune")
    return train_stage(config, build, out, resume, given if resume else None)


def build(config: SFTConfig, ctx: Context) -> Recipe:
    s, t = config.sft, config.train
    if ctx.resuming:
        source, record, init_run = ctx.run, ctx.record, None
    else:
        source = init_run = RunFolder(s.init)
        record = init_run.read_config()
        if record.get("model_kind") != "causal-lm":
            raise LmlabError(
                f"{init_run.path}: is a {record.get('stage')} run of a {record.get('model_kind')} model; "
                "sft starts from a causal LM"
            )
        if record["model"].get("arch", "gpt") != "gpt":
            raise LmlabError(f"{init_run.path}: sft needs a GPT model, the run is {record['model']['arch']}")
    tokenizer = source.tokenizer()
    model_config = section_from_dict(ModelConfig, {**record["model"], "dropout": s.dropout}, str(source.path))
    sft_data = prepare_sft_data(s.data, tokenizer, model_config.block_size, t.seed)
    if ctx.dist.is_main and (sft_data.truncated or sft_data.dropped):
        print(
            f"sft: {sft_data.truncated} of {sft_data.n_conversations} conversations truncated to "
            f"{model_config.block_size + 1} tokens, {sft_data.dropped} dropped (no assistant token left)"
        )
    model = new_model(build_model, model_config, tokenizer.vocab_size, t.seed)
    pad_id = tokenizer.special_id("<|pad|>")
    batches = BucketedBatches(sft_data.train, t.batch_size, t.seed, pad_id)

    def evaluate(model) -> dict:
        metrics = (
            {"val_loss": masked_loss(model, sft_data.val, t.batch_size, pad_id, ctx.device)} if sft_data.val else {}
        )
        if s.data == BUILTIN:  # the learning curve of the headline tasks
            metrics.update(
                {f"acc_{k}": v for k, v in accuracy(model, tokenizer, HEADLINE_TASKS[:4], EVAL_TASK_N).items()}
            )
        return metrics

    stats = {"conversations": sft_data.n_conversations, "truncated": sft_data.truncated, "dropped": sft_data.dropped}
    return Recipe(
        model,
        tokenizer,
        batches,
        sft_loss,
        evaluate,
        tokens_per_batch=batches.tokens_per_batch,
        record={"corpus": record.get("corpus"), "sft_data": stats},
        init_weights=init_run.load_weights if init_run else None,
    )
