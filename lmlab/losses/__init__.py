"""The losses of every training stage, as pure functions of tensors.

Each returns a Loss (loss_sum, n, metrics): the loss summed over its n terms (target tokens, or
preference pairs), and a dict of extra metrics, each summed over the same n terms. The one
training loop adds these up over the micro-batches and processes of a step and divides by the
total n, so the step's loss is the mean per term however the batch is split, and each metric is
logged as its mean in the same way (a DPO stage can report reward margins, a PPO stage its KL).
Models return logits; only these functions know what is being optimised.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

IGNORE = -100  # a target that is not learned (padding, prompt tokens): no loss, not counted


def upcast(x: torch.Tensor) -> torch.Tensor:
    """x in float32 at least: bf16/fp16 log-probs lose the small differences these losses are made of; float64 stays."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


class Loss(NamedTuple):
    sum: torch.Tensor  # scalar: the loss summed over the n terms
    n: int | torch.Tensor  # how many terms (target tokens, pairs) the sum covers; cross_entropy counts on the
    # logits' device (a 0-dim tensor): an int would make a GPU step wait there for its forward to finish
    metrics: dict  # name -> scalar tensor, summed over the same n terms


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> Loss:
    """Summed next-token cross-entropy, L = - sum_t log p(y_t | context), over the targets that are not IGNORE.

    logits (..., V) and targets (...) of the same leading shape. The one language-modelling loss of
    every stage: pre-training (p(y) = prod_t p(y_t | y_<t)), SFT (logits only at the assistant
    targets, Ouyang et al. 2022) and encoder-decoders under teacher forcing (p(y_t | y_<t, x)).
    Computed in fp32 whatever the autocast dtype of the logits.
    """
    loss = F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
    return Loss(loss, (targets != IGNORE).sum(), {})


def cross_entropy_per_sequence(logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor, B: int) -> Loss:
    """The mean cross-entropy of each sequence's targets, summed over sequences: every sequence with a target
    weighs the same, however many targets it has (n counts sequences, not tokens).

    logits (N, V) and targets (N,) are the scored positions, rows (N,) the sequence each belongs to (0..B-1).
    """
    token = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE, reduction="none")
    learned = (targets != IGNORE).float()
    per_row = torch.zeros(B, device=token.device).index_add_(0, rows, token)
    count = torch.zeros(B, device=token.device).index_add_(0, rows, learned)
    has = count > 0
    return Loss((per_row[has] / count[has]).sum(), has.sum(), {})
