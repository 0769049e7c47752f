"""Stage 2, supervised fine-tuning (SFT): teach a pre-trained model to answer in the chat template.

The loss is the next-token cross-entropy on assistant tokens only (Ouyang et al. 2022, sec. 3.5):
    L = - sum_{t: m_t = 1} log p(x_t | x_<t) / sum_t m_t
with m the loss mask of lmlab.data.conversations (assistant content and its <|end|>), normalised per
target token over the whole step by the Trainer.

A batch is B conversations right-padded to the longest of them, rounded up to a bucketed() length.
The causal mask already keeps a conversation from seeing the padding after it, and padded targets
are -100, so padding changes nothing but compute. To keep that compute small, batches are
length-bucketed (lmlab.data.batching): batch `index` is a pure function of (seed, index), so resume
and torchrun read exactly the batches of one uninterrupted process.

Few shapes: under bf16 autocast on the CPU, oneDNN compiles and keeps kernels for each input shape,
so a batch length per conversation length, and an output head sized by each batch's count of
assistant targets, made memory grow with every step (3.9 GB at 300 steps). Both sizes are rounded up
to the next 2^k or 1.5 x 2^k (bucketed()).
"""

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from lmlab.config import TrainConfig, opt, section_from_dict
from lmlab.data import tasks
from lmlab.data.batching import BUCKET_WINDOW, LengthBuckets, bucketed, head_mask
from lmlab.data.conversations import TokenizedConversations, read_conversations, tokenize_conversations
from lmlab.errors import LmlabError
from lmlab.eval.task_accuracy import HEADLINE_TASKS, accuracy
from lmlab.losses import IGNORE, Loss, cross_entropy, cross_entropy_per_sequence
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.runs import RunFolder
from lmlab.stages.recipe import Context, FineTuneConfig, Recipe, given_config, new_model, train_stage
from lmlab.tokenizer import Tokenizer

VAL_PER_TASK = 16  # held-out conversations per built-in task in the validation loss
EVAL_TASK_N = 24  # held-out instances per headline task measured at each evaluation (the learning curve)
BUILTIN = "chat"  # the default data: the built-in conversational mixture (lmlab.data.tasks.CHAT_MIXTURE)
BUILTINS = (BUILTIN, "tasks")  # and the drills alone (lmlab.data.tasks.MIXTURE)


@dataclass
class SFTDataConfig:
    init: str = opt("", "the run to fine-tune: any causal-LM run (pre-trained or fine-tuned)")
    data: str = opt(
        BUILTIN,
        "conversational or prompt/completion JSONL, a datasets folder, 'chat' (the built-in mixture: drills, small "
        "talk, refusals, how-to answers, reading, the elements) or 'tasks' (the drills alone)",
    )
    tools: bool = opt(
        False,
        "answer the built-in data's arithmetic drills through the calculator tool, half of them rephrased "
        "(lmlab.data.arithmetic); needs a tokenizer with the tool tokens (every run pre-trained since tool use)",
    )
    dropout: float = opt(0.0, "dropout while fine-tuning (the rest of the architecture is the init run's)")
    loss_weighting: str = opt(
        "auto",
        "token: every assistant token weighs the same (TRL's and litgpt's SFT); conversation: every conversation "
        "weighs the same, its loss the mean over its tokens; auto: conversation for the built-in 'chat' mixture "
        "(its long replies would drown the drills' short answers), token otherwise",
        choices=("auto", "token", "conversation"),
    )

    def per_conversation(self) -> bool:
        return self.loss_weighting == "conversation" or (self.loss_weighting == "auto" and self.data == "chat")


def sft_training_defaults() -> TrainConfig:
    # From cpu-small these take about 8.5 minutes on 2 CPU cores (96 conversations of ~30 tokens a
    # step, about 2,900 tokens). 1,700 steps, not 1,200: with the drills at 58% of the chat mixture,
    # 3-digit addition jumps only after ~1,500 steps (docs/figures.md). The step is 3 micro-batches
    # of 32: the longest conversations make batches of up to 128 tokens a row, and 96 such rows held
    # 1.2 GB of activations (bf16, CPU); 32 rows hold 0.4 GB, at the same speed.
    return TrainConfig(
        max_iters=1700, batch_size=32, grad_accum=3, lr=1e-3, min_lr=1e-4, warmup_iters=50, eval_interval=425
    )


@dataclass
class SFTConfig(FineTuneConfig):
    STAGE: ClassVar[str] = "sft"
    PRESETS: ClassVar[dict[str, dict]] = {
        "quick": dict(max_iters=150, eval_interval=75, warmup_iters=15),  # lmlab run --quick
        # lmlab run --scale gpu: 4x the rows a step, a rate for a ~100M model (not yet tuned on a GPU)
        "gpu": dict(batch_size=128, grad_accum=3, lr=3e-4, min_lr=3e-5, compile=True),
        "tiny": dict(max_iters=6, batch_size=4, eval_interval=3, warmup_iters=2, log_interval=1),  # tests, smoke runs
    }
    train: TrainConfig = field(default_factory=sft_training_defaults)
    sft: SFTDataConfig = field(default_factory=SFTDataConfig)


@dataclass
class SFTData:
    train: TokenizedConversations  # (ids, loss mask) per conversation, and the counts of the truncation rule
    val: TokenizedConversations


def builtin_draws(t: TrainConfig, world_size: int) -> int:
    """How many built-in conversations a run draws: a short run only those it can read (lmlab run --quick: 14,400 of
    100,000)."""
    return min(tasks.BUILTIN_SIZE, t.max_iters * t.batch_size * t.grad_accum * world_size)


def prepare_sft_data(
    data: str, tokenizer: Tokenizer, block_size: int, seed: int, size: int | None = None, tools: bool = False
) -> SFTData:
    """Read (or generate, for BUILTINS: `size` conversations, tasks.BUILTIN_SIZE by default; with tools the
    arithmetic through the calculator) conversations, render them and apply the truncation rule."""
    if tools:
        if data not in BUILTINS:
            raise LmlabError(f"--tools applies to the built-in data ({', '.join(BUILTINS)}); {data} brings its own "
                             "tool calls, if any (lmlab.data.conversations)")  # fmt: skip
        tokenizer.require_tools("--tools")
    if data in BUILTINS:
        mixture = tasks.mixture(data)
        conversations = tasks.iter_builtin_conversations(size or tasks.BUILTIN_SIZE, seed, mixture, tools)
        val_conversations = tasks.held_out_conversations(VAL_PER_TASK, mixture, tools)
    else:
        everything = read_conversations(data)
        # Every 20th conversation is held out for the validation loss, when there are enough.
        held = [i % 20 == 19 and len(everything) >= 20 for i in range(len(everything))]
        conversations = [c for c, h in zip(everything, held) if not h]
        val_conversations = [c for c, h in zip(everything, held) if h][:500]
    limit = block_size + 1
    train = tokenize_conversations(tokenizer, conversations, limit)
    if not len(train):
        raise LmlabError(f"{data}: no conversation has an assistant token within the {limit}-token context")
    return SFTData(train, tokenize_conversations(tokenizer, val_conversations, limit))


def collate(examples, pad_id: int, length: int | None = None) -> dict:
    """Right-pad (ids, mask) pairs into inputs (B, T) and targets (B, T), -100 where not learned.

    T is `length` when given (at least the longest conversation less one), else the longest less one.
    """
    T = length or max(len(ids) for ids, _ in examples) - 1
    inputs = torch.full((len(examples), T), pad_id, dtype=torch.long)
    targets = torch.full((len(examples), T), IGNORE, dtype=torch.long)
    for b, (ids, mask) in enumerate(examples):
        ids, learned = torch.as_tensor(np.asarray(ids, np.int64)), torch.as_tensor(np.asarray(mask, bool))
        n = len(ids) - 1
        inputs[b, :n] = ids[:-1]
        targets[b, :n] = ids[1:].masked_fill(~learned[1:], IGNORE)
    return {"inputs": inputs, "targets": targets}


class BucketedBatches:
    """batch_fn for the Trainer: micro-batch `index` of length-bucketed conversations (lmlab.data.batching)."""

    def __init__(self, examples, batch_size: int, seed: int, pad_id: int, window: int = BUCKET_WINDOW):
        """examples: TokenizedConversations, or any sequence of (ids, mask) pairs."""
        self.examples, self.pad_id = examples, pad_id
        if isinstance(examples, TokenizedConversations):
            lengths = examples.lengths
        else:
            lengths = np.array([len(ids) for ids, _ in examples])
        # A conversation of n tokens makes n - 1 (input, target) positions.
        self.buckets = LengthBuckets(lengths - 1, batch_size, seed, window)
        self.batches_per_epoch = self.buckets.batches_per_epoch
        # Mean tokens a batch computes on (padding excluded), for the Trainer's tokens/s.
        self.tokens_per_batch = float((lengths - 1).sum()) / self.batches_per_epoch

    def __call__(self, index: int) -> dict:
        batch, T = self.buckets(index)
        return collate([self.examples[i] for i in batch], self.pad_id, T)


def sft_loss(model, batch: dict, per_conversation: bool = False) -> Loss:
    """The cross-entropy of the assistant targets, the output head run only there (GPT's target_mask) and on
    the first ignored positions that make the count bucketed() (few shapes, module docstring). per_conversation:
    each conversation's mean over its targets, so a 45-token reply weighs what a 2-token answer does."""
    targets = batch["targets"]
    head = head_mask(targets, IGNORE)  # (B, T)
    logits = model(batch["inputs"], target_mask=head)
    if per_conversation:
        rows = head.nonzero(as_tuple=True)[0]  # the conversation of each scored position, in targets[head]'s order
        return cross_entropy_per_sequence(logits, targets[head], rows, targets.size(0))
    return cross_entropy(logits, targets[head])


def masked_loss(model, examples, batch_size: int, pad_id: int, device) -> float:
    """Mean loss per assistant token over examples."""
    total, count = masked_loss_sum(model, examples, batch_size, pad_id, device)
    return total / max(count, 1)


@torch.no_grad()
def masked_loss_sum(model, examples, batch_size: int, pad_id: int, device) -> tuple[float, int]:
    """(loss summed over the assistant tokens of examples in nats, their count), batched in length order to pad
    little: the sum is what bits per byte (lmlab.eval.replies) divides by bytes instead of tokens."""
    ordered = sorted(examples, key=lambda e: len(e[0]))
    longest = len(ordered[-1][0]) - 1
    total, count = 0.0, 0
    for i in range(0, len(ordered), batch_size):
        part = ordered[i : i + batch_size]
        T = bucketed(len(part[-1][0]) - 1, longest)
        batch = {k: v.to(device) for k, v in collate(part, pad_id, T).items()}
        loss = sft_loss(model, batch)
        total, count = total + float(loss.sum), count + int(loss.n)
    return total, count


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
    config, given = given_config(SFTConfig, config, init, data, overrides)
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
    sft_data = prepare_sft_data(
        s.data, tokenizer, model_config.block_size, t.seed, builtin_draws(t, ctx.dist.world_size), s.tools
    )
    train = sft_data.train
    if ctx.dist.is_main and (train.truncated or train.dropped):
        print(
            f"sft: {train.truncated} of {train.rendered} conversations truncated to "
            f"{model_config.block_size + 1} tokens, {train.dropped} dropped (no assistant token left)"
        )
    model = new_model(build_model, model_config, tokenizer.vocab_size, t.seed)
    pad_id = tokenizer.special_id("<|pad|>")
    batches = BucketedBatches(train, t.batch_size, t.seed, pad_id)

    def evaluate(model) -> dict:
        metrics = (
            {"val_loss": masked_loss(model, sft_data.val, t.batch_size, pad_id, ctx.device)} if sft_data.val else {}
        )
        if s.data in BUILTINS:  # the learning curve of the headline tasks
            metrics.update(
                {f"acc_{k}": v for k, v in accuracy(model, tokenizer, HEADLINE_TASKS[:4], EVAL_TASK_N).items()}
            )
        return metrics

    stats = {"conversations": train.rendered, "truncated": train.truncated, "dropped": train.dropped,
             "tools": s.tools}  # fmt: skip
    return Recipe(
        model,
        tokenizer,
        batches,
        functools.partial(sft_loss, per_conversation=s.per_conversation()),
        evaluate,
        tokens_per_batch=batches.tokens_per_batch,
        record={"corpus": record.get("corpus"), "sft_data": stats},
        init_weights=RunFolder(s.init).load_weights,
    )
