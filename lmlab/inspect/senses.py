"""Does a model separate a word's senses, or only mix in its context? The sense test.

context.py measures how far one word's hidden state moves between two sentences: how much context a layer mixes
in. That alone cannot tell senses apart (two sentences of the same sense differ too). Here each word comes in
two senses, several sentences each (lmlab.data.senses). At every layer, the mean cosine similarity of the word's
state between sentences of the *same* sense (within) is compared with that between sentences of *different*
senses (across); a model separates the senses where within exceeds across by more than label shuffling gives.

The spread is exact, not sampled: every split of the sentences into two groups of the senses' sizes is scored the
same way (the null: sense labels carry no information), and the observed split's statistic, the largest
within - across over layers (one number, so the choice of layer is part of the test), is ranked among them:
p = the share of splits scoring at least as high. "Separates" means p <= ALPHA and a difference of at least MIN_GAP:
in a model whose states barely move (similarities of 0.999 and more, as in a character model whose state at the
word's last letter mostly holds the letters before it) a systematic difference in the third decimal is real but is
the words just before, not the sense.
"""

from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
import torch

from lmlab.data.senses import SenseSet
from lmlab.inspect.context import context_similarity
from lmlab.tokenizer import Tokenizer

ALPHA = 0.05
MIN_GAP = 0.02  # the smallest within - across that counts, in cosine similarity


@dataclass
class SenseResult:
    word: str
    senses: tuple[str, str]
    layers: list[str]
    within: list[float]  # mean similarity between sentences of the same sense, by layer
    across: list[float]  # ... of different senses
    null_sd: list[float]  # standard deviation of within - across over every split of the sentences, by layer
    mixing: list[float]  # mean similarity over all sentence pairs, by layer (how much context the layer mixes in)
    p: float  # share of splits whose largest within - across (over layers) is at least the observed one
    splits: int

    @property
    def gap(self) -> list[float]:
        return [w - a for w, a in zip(self.within, self.across)]

    @property
    def best_layer(self) -> int:
        return int(np.argmax(self.gap))

    @property
    def separates(self) -> bool:
        return self.p <= ALPHA and self.gap[self.best_layer] >= MIN_GAP

    def record(self) -> dict:
        """The result as JSON-ready fields, with the verdict (what the reports and benches save)."""
        return {**asdict(self), "separates": self.separates}


def pair_means(sim: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(within, across) by layer for one labelling: the mean similarity of the pairs in the same group and of the
    pairs in different groups; sim (L, n, n) symmetric, group (n,) bool."""
    same = group[:, None] == group[None, :]
    upper = np.triu(np.ones_like(same), k=1)
    within, across = same & upper, ~same & upper
    return (sim * within).sum((1, 2)) / within.sum(), (sim * across).sum((1, 2)) / across.sum()


def split_statistics(sim: np.ndarray, group: np.ndarray) -> np.ndarray:
    """within - across by layer for one labelling (pair_means)."""
    within, across = pair_means(sim, group)
    return within - across


def sense_test(sim: np.ndarray, n_first: int) -> tuple[np.ndarray, np.ndarray, float, int]:
    """(observed within - across by layer, its null standard deviation by layer, p, number of splits) for
    similarities sim (L, n, n) whose first n_first sentences are the first sense."""
    n = sim.shape[1]
    observed = split_statistics(sim, np.arange(n) < n_first)
    # Every split into groups of n_first and n - n_first; with equal sizes, each split once (sentence 0 in the first).
    splits = [c for c in combinations(range(n), n_first) if n_first != n - n_first or 0 in c]
    null = np.stack([split_statistics(sim, np.isin(np.arange(n), c)) for c in splits])  # (splits, L)
    p = float((null.max(1) >= observed.max() - 1e-12).mean())
    return observed, null.std(0), p, len(splits)


@torch.no_grad()
def sense_separation(model: torch.nn.Module, tokenizer: Tokenizer, senses: SenseSet) -> SenseResult:
    """The sense test of one word for a causal LM (module docstring)."""
    first, second = senses.sentences
    sentences = [*first, *second]
    result = context_similarity(model, tokenizer, senses.word, sentences)
    n = len(sentences)
    sim = np.ones((len(result.layers), n, n))
    for column, (a, b) in enumerate(result.pairs):
        sim[:, a, b] = sim[:, b, a] = result.similarity[:, column].numpy()
    _, null_sd, p, splits = sense_test(sim, len(first))
    within, across = pair_means(sim, np.arange(n) < len(first))
    pairs = np.triu(np.ones((n, n), bool), k=1)
    return SenseResult(
        senses.word, senses.senses, result.layers, within=within.tolist(), across=across.tolist(),
        null_sd=null_sd.tolist(), mixing=[float(s[pairs].mean()) for s in sim], p=p, splits=splits,
    )  # fmt: skip
