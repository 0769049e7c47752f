"""Translation training: an encoder-decoder learns p(y | x) = prod_i p(y_i | y_<i, x) on KJV -> WEB pairs.

A batch is B random training pairs: the source x + <|eos|>, the decoder input <|bos|> + y, and the
targets y + <|eos|> (padding is -100, so it costs nothing). The loss is the cross-entropy of every
target token (teacher forcing), through the one training loop. Evaluation is the same loss on the
validation pairs; at the end the test pairs are translated greedily and scored with BLEU and chrF.
"""

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lmlab.runs import RunFolder
from lmlab.config import TrainConfig
from lmlab.data.translation import translation_pairs
from lmlab.device import pick_device
from lmlab.errors import LmlabError
from lmlab.models.config import opt
from lmlab.models.seq2seq import MODELS, Seq2SeqConfig, build_seq2seq
from lmlab.stages.common import default_out
from lmlab.tokenizer import train_tokenizer
from lmlab.inference.beam_search import pad_batch, score, translate_batch
from lmlab.trainer import Trainer


@dataclass
class TranslateDataConfig:
    split: str = opt("verse", "verse | book: how the pairs are split into train/val/test, with no overlap")
    tokenizer: str = opt("bpe", "char | bpe (trained on the training pairs, both sides)")
    bpe_vocab_size: int = opt(4096, "BPE vocabulary size, special tokens included")
    bleu_sentences: int = opt(500, "test pairs translated and scored at the end (0: all)")


# Fits minutes on a laptop CPU; pass --max-iters etc. to change.
TRANSLATE_TRAIN_DEFAULTS = dict(max_iters=1500, batch_size=32, lr=2e-3, min_lr=2e-4, warmup_iters=50, eval_interval=250, eval_iters=10, weight_decay=0.01)


SECTIONS = {"model": Seq2SeqConfig, "translate": TranslateDataConfig, "train": TrainConfig}


def translate_configs(overrides: dict) -> tuple[Seq2SeqConfig, TrainConfig, TranslateDataConfig]:
    """The three configs from flat field overrides (the command line), over the translation defaults."""
    def pick(cls, base=None):
        names = {f.name for f in fields(cls)}
        return cls(**{**(base or {}), **{k: v for k, v in overrides.items() if k in names}})

    return pick(Seq2SeqConfig), pick(TrainConfig, TRANSLATE_TRAIN_DEFAULTS), pick(TranslateDataConfig)


def seq2seq_loss(model, batch: dict):
    """Summed target-token cross-entropy under teacher forcing, and the number of targets."""
    logits = model(batch["src"], batch["tgt_in"])
    targets = batch["targets"]
    loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100, reduction="sum")
    return loss, int((targets != -100).sum())


class PairBatches:
    """Encoded pairs and the batches drawn from them; batch `index` depends only on (seed, index)."""

    def __init__(self, pairs, tokenizer, max_len: int = 0):
        self.bos, self.eos, self.pad = tokenizer.special_id("<|bos|>"), tokenizer.eos_id, tokenizer.special_id("<|pad|>")
        sources = tokenizer.encode_batch([p.source for p in pairs])
        targets = tokenizer.encode_batch([p.target for p in pairs])
        keep = [i for i in range(len(pairs)) if not max_len or (len(sources[i]) < max_len and len(targets[i]) < max_len)]
        if not keep:
            raise LmlabError(f"no pair fits max_len {max_len}; raise --max-len")
        self.pairs = [pairs[i] for i in keep]
        self.sources, self.targets = [sources[i] for i in keep], [targets[i] for i in keep]

    def __len__(self):
        return len(self.pairs)

    def batch(self, rows) -> dict:
        src = pad_batch([self.sources[i] + [self.eos] for i in rows], self.pad)
        tgt_in = pad_batch([[self.bos] + self.targets[i] for i in rows], self.pad)
        targets = pad_batch([self.targets[i] + [self.eos] for i in rows], -100)
        return {"src": src, "tgt_in": tgt_in, "targets": targets}

    def random_batch(self, index: int, batch_size: int, seed: int) -> dict:
        return self.batch(np.random.default_rng([seed, index]).integers(0, len(self), size=batch_size))


def translate_train(
    model_cfg: Seq2SeqConfig | None = None,
    train_cfg: TrainConfig | None = None,
    data_cfg: TranslateDataConfig | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    tokenizer=None,
    pairs: dict | None = None,
    overrides: dict | None = None,
) -> Path:
    """Train an encoder-decoder on KJV -> WEB (or resume one); returns the run folder.

    `tokenizer` and `pairs` (split name -> list of Pair) let callers such as lmlab compare reuse them.
    """
    if resume:
        run = RunFolder(resume)
        record = run.read_config()
        if record.get("stage") != "translate":
            raise LmlabError(f"{run.path}: is a {record.get('stage')} run, not a translate run")
        model_cfg, data_cfg = Seq2SeqConfig(**record["seq2seq"]), TranslateDataConfig(**record["translate"])
        train_cfg = TrainConfig(**{**record["train"], **(overrides or {})})  # e.g. a larger max_iters
        tokenizer = run.tokenizer()
    else:
        model_cfg, data_cfg = model_cfg or Seq2SeqConfig(), data_cfg or TranslateDataConfig()
        train_cfg = train_cfg or TrainConfig(**TRANSLATE_TRAIN_DEFAULTS)
        run = RunFolder(out or default_out("translate"))
        if (run.path / "config.yaml").exists():
            raise LmlabError(f"{run.path}: already holds a run; use --resume {run.path} or another --out")
    if model_cfg.model not in MODELS:  # fail before the data work
        raise LmlabError(f"model must be one of {', '.join(MODELS)}, got {model_cfg.model!r}")
    pairs = pairs or translation_pairs(data_cfg.split)
    if tokenizer is None:
        texts = [p.source for p in pairs["train"]] + [p.target for p in pairs["train"]]
        tokenizer = train_tokenizer(data_cfg.tokenizer, texts, data_cfg.bpe_vocab_size)
    model_cfg.vocab_size, model_cfg.pad_id = tokenizer.vocab_size, tokenizer.special_id("<|pad|>")
    train = PairBatches(pairs["train"], tokenizer, model_cfg.max_len)
    val = PairBatches(pairs["val"], tokenizer)
    torch.manual_seed(train_cfg.seed)
    model = build_seq2seq(model_cfg)
    if not resume:
        config = {"seq2seq": asdict(model_cfg), "translate": asdict(data_cfg), "train": asdict(train_cfg)}
        run.create(config, "translate", tokenizer)
    t = train_cfg

    def batch_fn(index: int) -> dict:
        return train.random_batch(index, t.batch_size, t.seed)

    def eval_fn(model) -> dict:
        total, count = 0.0, 0
        device = next(model.parameters()).device
        for i in range(0, min(len(val), t.eval_iters * t.batch_size), t.batch_size):
            batch = {k: v.to(device) for k, v in val.batch(range(i, min(i + t.batch_size, len(val)))).items()}
            loss, n = seq2seq_loss(model, batch)
            total, count = total + float(loss), count + n
        return {"val_loss": total / max(count, 1)}

    device = pick_device(t.device)
    trainer = Trainer(model, t, run, batch_fn, seq2seq_loss, eval_fn, device, tokens_per_step=t.batch_size * model_cfg.max_len)
    if resume:
        trainer.resume()
    trainer.fit()
    test = pairs["test"][: data_cfg.bleu_sentences or None]
    metrics = evaluate_pairs(model.eval(), tokenizer, test)
    (run.path / "eval.json").write_text(json.dumps({k: v for k, v in metrics.items() if k != "hypotheses"}, indent=1))
    return run.path


def evaluate_pairs(model, tokenizer, pairs, beam: int = 1) -> dict:
    """Translate the sources of `pairs`; BLEU and chrF against their targets, and the hypotheses."""
    with torch.no_grad():
        results = translate_batch(model, tokenizer, [p.source for p in pairs], beam)
    hypotheses = [tokenizer.decode(r.ids) for r in results]
    return {**score(hypotheses, [p.target for p in pairs]), "sentences": len(pairs), "hypotheses": hypotheses}
