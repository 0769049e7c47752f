"""`lmlab compare`'s settings, presets and the "did not learn" rule every section applies."""

from dataclasses import dataclass, field
from typing import ClassVar

from lmlab.config import Config, opt
from lmlab.errors import LmlabError

LM_ARCHS = ("rnn", "lstm", "gru", "gpt")
SEQ2SEQ_MODELS = ("rnn", "rnn-attention", "transformer")

# The "did not learn" rule: a model whose own score misses its threshold is named in the report and
# left out of every comparative sentence (a smoke test's 20-second models often miss them).
LEARNED = {
    "lm": "validation bpb at most 90% of the corpus's unigram entropy (a model that only learned letter "
    "frequencies scores 100%)",
    "recall": "at least 90% accuracy at the smallest K measured (K = 1: one value carried to its query; chance "
    "is {chance:.1%})",
    "translation": "BLEU at least 5 on the test set",
}


def learned(kind: str, score: float, baseline: float = 0.0) -> bool:
    """Whether a score shows the model learned: lm (bpb against the unigram bpb `baseline`), recall
    (accuracy at the smallest K), translation (BLEU); the thresholds are LEARNED's."""
    if kind == "lm":
        return score <= 0.9 * baseline
    if kind == "recall":
        return score >= 0.9
    if kind == "translation":
        return score >= 5.0
    raise ValueError(f"unknown kind {kind!r}")


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise LmlabError(f"compare.{name}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise LmlabError(f"compare.{name}: expected non-negative integers, got {text!r}")
    return values


@dataclass
class CompareSettings:
    data: str = opt("web", "the language-modelling corpus")
    block_size: int = opt(128, "context of every language model")
    batch_size: int = opt(16, "batch size of the language models")
    gpt_layers: int = opt(4, "GPT layers; the 2-layer recurrent models get the width that matches its parameters")
    # The defaults reach past the crossovers within 30 minutes on 2 cores: at width 64 the GPT passed the LSTM from
    # 50 s and the RNN from 200 s in a dev measurement (another seed, `bench/crossover.py --sizes 64 --seed 2024`).
    sizes: str = opt("64", "comma-separated GPT widths (model sizes); the first is the main one")
    budgets: str = opt("25,50,75,100,150", "comma-separated training budgets in seconds, each a multiple of the first")
    size_budget: float = opt(0.0, "budget at which the sizes after the first are compared (0: the largest)")
    seeds: int = opt(2, "seeds per architecture and size")
    seed: int = opt(1337, "the first seed of the language models (seeds are seed, seed + 1, ...)")
    workers: int = opt(0, "language models trained at once, one CPU thread each (0: one per core, 1 on a GPU)")
    # Peak lr per architecture: the best of 2e-3, 4e-3, 8e-3 (GPT: 1e-3, 2e-3, 4e-3) by `python bench/compare_lr.py`.
    lr_rnn: float = opt(4e-3, "peak learning rate of the RNN language model")
    lr_lstm: float = opt(4e-3, "peak learning rate of the LSTM language model")
    lr_gru: float = opt(2e-3, "peak learning rate of the GRU language model")
    lr_gpt: float = opt(4e-3, "peak learning rate of the GPT language model")
    recall_pairs: str = opt("1,2,4,8,16,32,64", "comma-separated numbers of key-value pairs K measured")
    recall_gaps: str = opt("0,16,64,128,192", "comma-separated gaps (filler tokens before the queries) measured")
    recall_gap_pairs: int = opt(1, "K of the gap curve (1: one value carried across the gap, what every model learns)")
    recall_pairs_gap: int = opt(2, "gap of the K curve (short: the gap curve is the one that measures distance)")
    recall_length: int = opt(256, "longest recall row, the models' context")
    recall_seconds: float = opt(60.0, "training budget per recall model (it stops sooner when it plateaus)")
    recall_distinct_queries: bool = opt(False, "ask each pair at most once (leaves the elimination shortcut open)")
    recall_train_k1: bool = opt(True, "the curriculum includes K = 1 (without it a plain RNN never starts)")
    recall_width: int = opt(64, "width of the 2-layer recall GPT; the recurrent models match its parameters")
    recall_lr: float = opt(1e-3, "peak learning rate of the recall models")
    translate_seconds: float = opt(100.0, "training seconds per translation model")
    translate_width: int = opt(128, "width of the translation models")
    translate_vocab: int = opt(2000, "BPE vocabulary of the translation models")
    translate_max_len: int = opt(64, "longest training source or target in tokens (longer training pairs are left out)")
    translate_verses: str = opt("1,2,3", "consecutive verses per test example")
    translate_train_verses: str = opt("1", "consecutive verses per training example (1,2,3: a mixture)")
    translate_pairs: int = opt(0, "limit the training passages to this many (0: all)")
    bleu_sentences: int = opt(100, "test passages translated per number of verses")
    length_edges: str = opt("0,20,40,60,80,100,130,160", "source-length bucket edges in tokens")
    senses_run: str = opt(
        "",
        "a pre-trained causal-LM run (e.g. lmlab run's RUN/pretrain) that section 5's sense test "
        "reads besides the section-1 models (--from)",
    )
    smoke_test: bool = opt(False, "the report says it is a smoke test and draws no conclusions (--quick sets it)")
    cache_dir: str = opt("", "token cache; empty means $LMLAB_CACHE or ~/.cache/lmlab")

    def ints(self, name: str) -> tuple[int, ...]:
        return _ints(getattr(self, name), name)


@dataclass
class CompareConfig(Config):
    PRESETS: ClassVar[dict[str, dict]] = {
        "quick": dict(
            gpt_layers=2, sizes="64", budgets="5,10", seeds=1, recall_pairs="1,4,16,64", recall_gaps="0,64,192",
            recall_seconds=12, translate_seconds=15, translate_width=64, translate_vocab=1000, bleu_sentences=30,
            translate_pairs=3000, smoke_test=True,
        ),
        # The full crossover: 25 s to 400 s at the main size, 3 sizes at 50 s, 3 seeds (~90 min on 2 quiet cores).
        "crossover": dict(sizes="128,64,256", budgets="25,50,100,200,400", size_budget=50, seeds=3),
    }  # fmt: skip
    compare: CompareSettings = field(default_factory=CompareSettings)
