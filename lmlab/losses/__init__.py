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
import torch.utils.checkpoint

IGNORE = -100  # a target that is not learned (padding, prompt tokens): no loss, not counted
# Logits (entries) whose fp32 log-softmax token_nll computes at once: 64 MB. Below it, one fused call; above it (a large
# vocabulary: SmolLM's 49,152 tokens x 760 targets held ~600 MB of fp32 copies), chunks of rows.
NLL_CHUNK = 1 << 24


def upcast(x: torch.Tensor) -> torch.Tensor:
    """x in float32 at least: bf16/fp16 log-probs lose the small differences these losses are made of; float64 stays."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


class Loss(NamedTuple):
    sum: torch.Tensor  # scalar: the loss summed over the n terms
    n: int | torch.Tensor  # how many terms (target tokens, pairs) the sum covers; cross_entropy counts on the
    # logits' device (a 0-dim tensor): an int would make a GPU step wait there for its forward to finish
    metrics: dict  # name -> scalar tensor, summed over the same n terms


def token_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(y_t) of each of N positions (N,) in fp32 (0 at IGNORE targets): logits (N, V) and targets (N,).

    The fp32 upcast, log-softmax and gradient of all N x V logits would take 16 bytes an entry beside the logits'
    own; above NLL_CHUNK entries the rows go in chunks, each recomputed in the backward pass (torch.utils.checkpoint),
    so only one chunk's fp32 work is ever alive. Same values as one call, row by row.
    """
    if logits.numel() <= NLL_CHUNK:
        return F.cross_entropy(upcast(logits), targets, ignore_index=IGNORE, reduction="none")
    rows = max(1, NLL_CHUNK // logits.size(-1))
    recompute = torch.is_grad_enabled() and logits.requires_grad
    parts = []
    for chunk, chunk_targets in zip(logits.split(rows), targets.split(rows)):  # split: one cat of the grads in backward
        if recompute:
            parts.append(torch.utils.checkpoint.checkpoint(_nll, chunk, chunk_targets, use_reentrant=False))
        else:
            parts.append(_nll(chunk, chunk_targets))
    return torch.cat(parts)


def _nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(upcast(logits), targets, ignore_index=IGNORE, reduction="none")


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> Loss:
    """Summed next-token cross-entropy, L = - sum_t log p(y_t | context), over the targets that are not IGNORE.

    logits (..., V) and targets (...) of the same leading shape. The one language-modelling loss of
    every stage: pre-training (p(y) = prod_t p(y_t | y_<t)), SFT (logits only at the assistant
    targets, Ouyang et al. 2022) and encoder-decoders under teacher forcing (p(y_t | y_<t, x)).
    Computed in fp32 whatever the autocast dtype of the logits (in chunks for a large vocabulary: token_nll).
    """
    logits, targets = logits.reshape(-1, logits.size(-1)), targets.reshape(-1)
    if logits.numel() <= NLL_CHUNK:  # one fused call, as always for lmlab's own vocabularies
        loss = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE, reduction="sum")
    else:
        loss = token_nll(logits, targets).sum()
    return Loss(loss, (targets != IGNORE).sum(), {})


def cross_entropy_per_sequence(logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor, B: int) -> Loss:
    """The mean cross-entropy of each sequence's targets, summed over sequences: every sequence with a target
    weighs the same, however many targets it has (n counts sequences, not tokens).

    logits (N, V) and targets (N,) are the scored positions, rows (N,) the sequence each belongs to (0..B-1).
    """
    token = token_nll(logits, targets)
    learned = (targets != IGNORE).float()
    per_row = torch.zeros(B, device=token.device).index_add_(0, rows, token)
    count = torch.zeros(B, device=token.device).index_add_(0, rows, learned)
    has = count > 0
    return Loss((per_row[has] / count[has]).sum(), has.sum(), {})
