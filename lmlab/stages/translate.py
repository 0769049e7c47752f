"""Translation training: an encoder-decoder learns p(y | x) = prod_i p(y_i | y_<i, x) on KJV -> WEB pairs.

A batch is B random training pairs: the source x + <|eos|>, the decoder input <|bos|> + y, and the
targets y + <|eos|> (padding is -100, so it costs nothing). The loss is the cross-entropy of every
target token (teacher forcing), through the one training loop. Evaluation is the same loss on the
validation pairs; at the end the test pairs are translated greedily and scored with BLEU and chrF.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from lmlab.config import StageConfig, TrainConfig, opt
from lmlab.data.translation import translation_pairs
from lmlab.errors import LmlabError
from lmlab.eval.bleu import evaluate_pairs
from lmlab.inference.beam_search import pad_batch
from lmlab.losses import IGNORE, Loss, cross_entropy
from lmlab.models.seq2seq import Seq2SeqConfig, build_seq2seq
from lmlab.stages.recipe import Context, Recipe, new_model, train_stage
from lmlab.tokenizer import train_tokenizer


@dataclass
class TranslateDataConfig:
    split: str = opt(
        "verse", "verse | book: how the pairs are split into train/val/test, with no overlap", ("verse", "book")
    )
    tokenizer: str = opt("bpe", "char | bpe (trained on the training pairs, both sides)", ("char", "bpe"))
    bpe_vocab_size: int = opt(4096, "BPE vocabulary size, special tokens included")
    bleu_sentences: int = opt(500, "test pairs translated and scored at the end (0: all)")
    max_pairs: int = opt(0, "use only the first N pairs of each split (0: all); for quick trials")


def translate_training_defaults() -> TrainConfig:
    # Fits minutes on a laptop CPU; pass --max-iters etc. to change.
    return TrainConfig(
        max_iters=1500,
        batch_size=32,
        lr=2e-3,
        min_lr=2e-4,
        warmup_iters=50,
        eval_interval=250,
        eval_iters=10,
        weight_decay=0.01,
    )


@dataclass
class TranslateConfig(StageConfig):
    STAGE: ClassVar[str] = "translate"
    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(  # seconds: tests and smoke runs
            n_embd=16, tokenizer="char", max_pairs=40, bleu_sentences=3, max_iters=4, batch_size=4,
            eval_interval=2, eval_iters=1, warmup_iters=1,
        ),
    }  # fmt: skip
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    train: TrainConfig = field(default_factory=translate_training_defaults)
    data: TranslateDataConfig = field(default_factory=TranslateDataConfig)


def seq2seq_loss(model, batch: dict) -> Loss:
    """Summed target-token cross-entropy under teacher forcing, -sum_i log p(y_i | y_<i, x)."""
    return cross_entropy(model(batch["src"], batch["tgt_in"]), batch["targets"])


class PairBatches:
    """Encoded pairs and the batches drawn from them; batch `index` depends only on (seed, index)."""

    def __init__(self, pairs, tokenizer, max_len: int = 0):
        self.bos, self.eos, self.pad = (
            tokenizer.special_id("<|bos|>"),
            tokenizer.eos_id,
            tokenizer.special_id("<|pad|>"),
        )
        sources = tokenizer.encode_batch([p.source for p in pairs])
        targets = tokenizer.encode_batch([p.target for p in pairs])
        keep = [
            i for i in range(len(pairs)) if not max_len or (len(sources[i]) < max_len and len(targets[i]) < max_len)
        ]
        if not keep:
            raise LmlabError(f"no pair fits max_len {max_len}; raise --max-len")
        self.pairs = [pairs[i] for i in keep]
        self.sources, self.targets = [sources[i] for i in keep], [targets[i] for i in keep]

    def __len__(self):
        return len(self.pairs)

    def batch(self, rows) -> dict:
        src = pad_batch([self.sources[i] + [self.eos] for i in rows], self.pad)
        tgt_in = pad_batch([[self.bos] + self.targets[i] for i in rows], self.pad)
        targets = pad_batch([self.targets[i] + [self.eos] for i in rows], IGNORE)
        return {"src": src, "tgt_in": tgt_in, "targets": targets}

    def random_batch(self, index: int, batch_size: int, seed: int) -> dict:
        return self.batch(np.random.default_rng([seed, index]).integers(0, len(self), size=batch_size))


def translate_train(
    config: TranslateConfig | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    overrides: dict | None = None,
    tokenizer=None,
    pairs: dict | None = None,
) -> Path:
    """Train an encoder-decoder on KJV -> WEB (or resume one); returns the run folder.

    `tokenizer` and `pairs` (split name -> list of Pair) let callers such as lmlab compare reuse them.
    """
    config = TranslateConfig.build(base=config.to_dict() if config else None, overrides=None if resume else overrides)
    return train_stage(config, lambda c, ctx: build(c, ctx, tokenizer, pairs), out, resume, overrides)


def build(config: TranslateConfig, ctx: Context, tokenizer=None, pairs: dict | None = None) -> Recipe:
    m, d, t = config.model, config.data, config.train
    pairs = pairs or translation_pairs(d.split)
    if d.max_pairs:
        pairs = {split: ps[: d.max_pairs] for split, ps in pairs.items()}
    if ctx.resuming:
        tokenizer = ctx.run.tokenizer()
    elif tokenizer is None:
        texts = [p.source for p in pairs["train"]] + [p.target for p in pairs["train"]]
        tokenizer = train_tokenizer(d.tokenizer, texts, d.bpe_vocab_size)
    m.pad_id = tokenizer.special_id("<|pad|>")
    train = PairBatches(pairs["train"], tokenizer, m.max_len)
    val = PairBatches(pairs["val"], tokenizer)
    model = new_model(build_seq2seq, m, tokenizer.vocab_size, t.seed)

    def batches(index: int) -> dict:
        return train.random_batch(index, t.batch_size, t.seed)

    def evaluate(model) -> dict:
        total, count = 0.0, 0
        for i in range(0, min(len(val), t.eval_iters * t.batch_size), t.batch_size):
            batch = {k: v.to(ctx.device) for k, v in val.batch(range(i, min(i + t.batch_size, len(val)))).items()}
            loss = seq2seq_loss(model, batch)
            total, count = total + float(loss.sum), count + int(loss.n)
        return {"val_loss": total / max(count, 1)}

    def finish(model, run):
        metrics = evaluate_pairs(model, tokenizer, pairs["test"][: d.bleu_sentences or None])
        (run.path / "eval.json").write_text(
            json.dumps({k: v for k, v in metrics.items() if k != "hypotheses"}, indent=1)
        )

    tokens_per_batch = t.batch_size * m.max_len
    return Recipe(model, tokenizer, batches, seq2seq_loss, evaluate, tokens_per_batch, "seq2seq", finish=finish)
