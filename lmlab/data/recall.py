"""The synthetic recall task: can a model carry one fact across d tokens of filler?

A sequence of length L is filler tokens with a key k and its value v at distance d before the end,
and the key again as the last token; the one target is v at that last position:
    f f f ... k v f f ... (d fillers) ... f k  ->  v
A Transformer sees the pair directly while it is inside its context; a recurrent model must keep v
in its state through d updates, which is what its gradients (and its accuracy) show.
Vocabulary: fillers 0..n_filler-1, then n_keys keys, then n_values values.
"""

import numpy as np
import torch


def recall_vocab_size(n_filler: int = 16, n_keys: int = 8, n_values: int = 8) -> int:
    return n_filler + n_keys + n_values


def recall_batch(
    rng: np.random.Generator,
    batch_size: int,
    length: int,
    distances,
    n_filler: int = 16,
    n_keys: int = 8,
    n_values: int = 8,
):
    """x (B, L) int64 and targets (B, L), -100 except the last position, which holds the value.

    Each row's distance is drawn from `distances`; each must satisfy d + 3 <= length.
    """
    d = rng.choice(np.asarray(distances), size=batch_size)
    assert (d + 3 <= length).all(), "a distance does not fit the sequence length"
    x = rng.integers(0, n_filler, size=(batch_size, length))
    keys = n_filler + rng.integers(0, n_keys, size=batch_size)
    values = n_filler + n_keys + rng.integers(0, n_values, size=batch_size)
    rows = np.arange(batch_size)
    key_pos = length - 3 - d  # then the value, d fillers, and the query key at length - 1
    x[rows, key_pos], x[rows, key_pos + 1], x[:, -1] = keys, values, keys
    targets = np.full((batch_size, length), -100)
    targets[:, -1] = values
    return torch.from_numpy(x), torch.from_numpy(targets)
