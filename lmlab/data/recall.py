"""Multi-query associative recall (MQAR; Arora et al. 2023, "Zoology"): memory that a state must hold.

A row is K key-value pairs, then `gap` filler tokens, then Q queries, each a key from the pairs
followed by its value; the targets are the values at the query positions:
    f f k1 v1 k2 v2 ... kK vK  f f ... (gap) ... f  k3 v3 k1 v1 ...
                                                     ^ predict v3  ^ predict v1
Keys are distinct within a row, so every query has one answer. Queries are drawn from the pairs with
replacement: were each pair asked once, a model that knew only which values the row holds could answer
the last query by elimination (at K = 2 that alone scores 75%, at K = 8 34%) without binding any value to
its key; with replacement the same model scores 1/K (`values_only_accuracy`). A Transformer looks the pair up
while it is inside its context; a recurrent model must carry all K pairs in its fixed-size state
through the gap, so its accuracy falls as K outgrows the state and as the gap forgets. A query's
distance is the number of positions from its key in the pairs to its key among the queries.
Vocabulary: fillers 0..n_filler-1, then n_keys keys, then n_values values.
"""

from dataclasses import dataclass

import numpy as np
import torch

from lmlab.losses import IGNORE


@dataclass(frozen=True)
class Vocab:
    n_filler: int = 16
    n_keys: int = 128
    n_values: int = 128

    @property
    def size(self) -> int:
        return self.n_filler + self.n_keys + self.n_values

    @property
    def chance(self) -> float:
        return 1 / self.n_values


def mqar_batch(
    rng: np.random.Generator,
    batch_size: int,
    length: int,
    n_pairs: int,
    gap: int,
    n_queries: int,
    vocab: Vocab = Vocab(),
    distinct: bool = False,
):
    """x (B, L) int64, targets (B, L) with IGNORE except at the Q query keys, whose target is the value
    that follows; distances (B, Q), each query's distance from its key in the pairs.

    Layout: leading filler, the K pairs, `gap` fillers, the Q queries (2 tokens each) ending the row. Queries are
    drawn with replacement; distinct=True asks Q different pairs instead (the layout that leaves the elimination
    shortcut open, kept to measure it).
    """
    K, Q, B = n_pairs, n_queries, batch_size
    if K > vocab.n_keys:
        raise ValueError(f"n_pairs {K} exceeds the {vocab.n_keys} distinct keys")
    if Q < 1 or (distinct and Q > K):
        raise ValueError(f"n_queries must be at least 1 (at most n_pairs, {K}, if distinct), got {Q}")
    start = length - 2 * Q - gap - 2 * K  # where the pairs begin
    if start < 0:
        raise ValueError(f"{K} pairs, a gap of {gap} and {Q} queries need {2 * K + gap + 2 * Q} > {length} tokens")
    x = rng.integers(0, vocab.n_filler, size=(B, length))
    keys = np.argsort(rng.random((B, vocab.n_keys)), axis=1)[:, :K]  # K distinct keys per row
    values = rng.integers(0, vocab.n_values, size=(B, K))
    keys_tok, values_tok = vocab.n_filler + keys, vocab.n_filler + vocab.n_keys + values
    x[:, start : start + 2 * K : 2] = keys_tok
    x[:, start + 1 : start + 2 * K : 2] = values_tok
    if distinct:
        asked = np.argsort(rng.random((B, K)), axis=1)[:, :Q]
    else:
        asked = rng.integers(0, K, size=(B, Q))  # which pair each query asks, with replacement (module docstring)
    rows = np.arange(B)[:, None]
    q0 = length - 2 * Q  # the first query key
    query_pos = q0 + 2 * np.arange(Q)  # (Q,)
    x[:, query_pos] = keys_tok[rows, asked]
    x[:, query_pos + 1] = values_tok[rows, asked]
    targets = np.full((B, length), IGNORE)
    targets[:, query_pos] = values_tok[rows, asked]
    distances = query_pos[None, :] - (start + 2 * asked)
    return torch.from_numpy(x), torch.from_numpy(targets), distances


def query_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, Q) bool: whether the argmax at each query position is its value; logits at the targets only
    ((N, V), N = number of non-IGNORE targets, row-major) or at every position ((B, L, V))."""
    mask = targets != IGNORE
    pred = logits.argmax(-1) if logits.dim() == 2 else logits.argmax(-1)[mask]
    return (pred == targets[mask]).view(targets.size(0), -1)


def values_only_accuracy(n_pairs: int) -> float:
    """Expected accuracy of a model that knows which values the row holds but not their keys: one in K."""
    return 1 / n_pairs
