"""Knowledge distillation: a student learns a teacher's next-token distributions, position by position.

With p the teacher's distribution and q the student's at one position (both softmax(logits / tau)):
- forward KL, KL(p || q) = sum_v p_v (log p_v - log q_v): the student covers every token the teacher gives mass to
  (mean-seeking; Hinton et al. 2015, the usual distillation loss);
- reverse KL, KL(q || p): the student puts its mass where the teacher's is (mode-seeking; MiniLLM, Gu et al. 2024);
- generalized Jensen-Shannon divergence (GKD, Agarwal et al. 2024), with m = beta p + (1 - beta) q:
  JSD_beta = beta KL(p || m) + (1 - beta) KL(q || m); symmetric at beta 0.5 and at most ln 2 there; near forward KL
  for a small beta and near reverse KL for a beta near 1, once divided by beta (1 - beta).
Each divergence is multiplied by tau^2, so its gradients keep their scale whatever the temperature (Hinton et al.).
The teacher's logits carry no gradient. Computed in fp32 (float64 stays): a divergence is a small difference of
log-probabilities.
"""

import math

import torch
import torch.nn.functional as F

from lmlab.losses import IGNORE, Loss, upcast

KINDS = ("forward_kl", "reverse_kl", "jsd")


def _kl(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """KL(a || b) over the last axis from log-probabilities; 0 log 0 counts 0."""
    return torch.where(log_a.isinf(), 0.0, log_a.exp() * (log_a - log_b)).sum(-1)


def divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, kind: str, beta: float = 0.5,
               temperature: float = 1.0) -> torch.Tensor:  # fmt: skip
    """(N, V) logits of the student and the teacher -> the divergence at each of the N positions (N,) (module
    docstring)."""
    log_q = F.log_softmax(upcast(student_logits) / temperature, -1)
    log_p = F.log_softmax(upcast(teacher_logits.detach()) / temperature, -1)
    if kind == "forward_kl":
        d = _kl(log_p, log_q)
    elif kind == "reverse_kl":
        d = _kl(log_q, log_p)
    elif kind == "jsd":
        if not 0 < beta < 1:
            raise ValueError(f"jsd beta {beta}: expected 0 < beta < 1")
        log_m = torch.logsumexp(torch.stack([log_p + math.log(beta), log_q + math.log(1 - beta)]), 0)
        d = beta * _kl(log_p, log_m) + (1 - beta) * _kl(log_q, log_m)
    else:
        raise ValueError(f"unknown distillation loss {kind!r}; expected one of {', '.join(KINDS)}")
    return d * temperature**2


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, kind: str,
                      beta: float = 0.5, temperature: float = 1.0, hard_weight: float = 0.0) -> Loss:  # fmt: skip
    """The divergence summed over the positions whose target is learned (targets != IGNORE), plus hard_weight times
    the cross-entropy of those targets (the data's own next tokens); metrics: the divergence and the cross-entropy
    alone, summed alike."""
    keep = targets != IGNORE
    s, t, y = student_logits[keep], teacher_logits[keep], targets[keep]
    d = divergence(s, t, kind, beta, temperature)
    ce = F.cross_entropy(upcast(s), y, reduction="none")
    total = d.sum() + hard_weight * ce.sum() if hard_weight else d.sum()
    return Loss(total, keep.sum(), {"distill/divergence": d.sum().detach(), "distill/ce": ce.sum().detach()})
