"""Length-bucketed batches of variable-length examples (conversations, preference pairs).

Each epoch is shuffled by (seed, epoch), cut into windows of `window` batches, each window sorted by
length and sliced into batches, and the batch order shuffled again: batches hold examples of
similar length, so padding is small, and batch `index` is a pure function of (seed, index), so a
resumed run or torchrun reads exactly the batches of one uninterrupted process.

Few shapes: under bf16 autocast on the CPU, oneDNN compiles and keeps kernels for each input shape,
so a batch padded to each conversation's own length made memory grow with every step. Lengths
are rounded up to the next 2^k or 1.5 x 2^k (bucketed()): about 2 log2(block_size) shapes, at most
1.5x the work.
"""

import numpy as np
import torch

BUCKET_WINDOW = 16  # batches sorted by length together


def bucketed(n: int, cap: int) -> int:
    """n rounded up to the next 2^k or 1.5 x 2^k (1, 2, 3, 4, 6, 8, 12, 16, 24, ...), at most cap."""
    size = 1 << (n - 1).bit_length()  # the power of two >= n
    if size >= 4 and size * 3 // 4 >= n:
        size = size * 3 // 4
    return min(size, cap)


def head_mask(targets: torch.Tensor, ignore: int) -> torch.Tensor:
    """(B, T) bool: where a model's output head must run to score `targets`: every position whose target is
    learned, plus the first ignored positions that bring the count to a bucketed() size. Their targets are
    ignored, so they add a little work and nothing to any loss; the head's input then has few shapes."""
    head = targets != ignore
    n = int(head.sum())
    spare = (~head).flatten().nonzero().squeeze(1)[: bucketed(n, head.numel()) - n]
    head.view(-1)[spare] = True
    return head


class LengthBuckets:
    """Batch `index` of endless length-bucketed epochs over examples of the given lengths (module docstring)."""

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, window: int = BUCKET_WINDOW):
        self.lengths, self.batch_size, self.seed, self.window = np.asarray(lengths), batch_size, seed, window
        self.longest = int(self.lengths.max())
        self._cached: tuple[int, list] | None = None
        self.batches_per_epoch = len(self.epoch(0))

    def epoch(self, e: int) -> list[np.ndarray]:
        if self._cached is None or self._cached[0] != e:
            rng = np.random.default_rng([self.seed, e])
            order, size = rng.permutation(len(self.lengths)), self.batch_size * self.window
            batches = []
            for start in range(0, len(order), size):
                chunk = order[start : start + size]
                chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
                batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
            self._cached = (e, [batches[i] for i in rng.permutation(len(batches))])
        return self._cached[1]

    def __call__(self, index: int) -> tuple[np.ndarray, int]:
        """(example indices of batch `index`, their padded length: bucketed(longest of them), at most the longest)."""
        e, k = divmod(index, self.batches_per_epoch)
        batch = self.epoch(e)[k]
        return batch, bucketed(int(self.lengths[batch].max()), self.longest)
