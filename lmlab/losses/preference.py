"""The losses of learning from preferences: a reward model trained on pairs (Bradley-Terry), and a policy trained on
pairs directly, against a frozen reference (DPO and its variants cDPO, robust DPO, SLiC's hinge, IPO) or without one
(SimPO, ORPO). A pair is a prompt x with a chosen response y_w and a rejected one y_l; the policy losses see each
response only through its log-probability, which sequence_logps computes from the logits. Every loss returns a Loss
summed over the B pairs (n = B), with metrics named as TRL names them, each summed over the same pairs.
"""

import math

import torch
import torch.nn.functional as F

from lmlab.losses import IGNORE, Loss, token_nll, upcast

DPO_LOSSES = ("sigmoid", "cdpo", "robust", "hinge", "ipo", "ipo_norm")

# ORPO's odds p / (1 - p) are infinite at p = 1, and a float32 log-prob within ~1e-7 of 0 is rounding noise anyway.
MAX_ORPO_LOGP = -1e-6


def sequence_logps(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The log-probability of each response, log pi(y | x) = sum_t log pi(y_t | x, y_<t), and its length.

    logits (B, T, V) at the positions that predict targets (B, T); targets are IGNORE where the position is not
    part of the response (prompt, padding). Returns (logps (B,), counts (B,)): the sum of log pi(y_t) over the
    response tokens, and how many there are (as a float of the same dtype). logps / counts is the per-token mean
    that length-normalised losses (SimPO, ORPO, TRL's ipo_norm) take. A row with no response gives 0 and 0.
    """
    B, T, V = logits.shape
    # cross_entropy is a fused log-softmax + gather: it never materialises (B, T, V) log-probs.
    token_nll = F.cross_entropy(
        upcast(logits).reshape(B * T, V), targets.reshape(B * T), ignore_index=IGNORE, reduction="none"
    )
    logps = -token_nll.view(B, T).sum(-1)
    counts = (targets != IGNORE).sum(-1).to(logps.dtype)
    return logps, counts


def packed_sequence_logps(
    logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor, B: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """sequence_logps of logits computed at some positions only (where the output head ran): logits (N, V) and
    targets (N,) at those positions, rows (N,) the sequence each belongs to, B sequences. Same results."""
    nll = token_nll(logits, targets)  # (N,)
    logps = nll.new_zeros(B).index_add(0, rows, -nll)
    counts = nll.new_zeros(B).index_add(0, rows, (targets != IGNORE).to(nll.dtype))
    return logps, counts


def _preference_metrics(chosen_rewards, rejected_rewards, chosen_logps, rejected_logps) -> dict:
    """The implicit rewards and log-probs of a batch of pairs, each summed over the pairs and detached."""
    chosen_rewards, rejected_rewards = chosen_rewards.detach(), rejected_rewards.detach()
    return {
        "rewards/chosen": chosen_rewards.sum(),
        "rewards/rejected": rejected_rewards.sum(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).to(chosen_rewards.dtype).sum(),
        "rewards/margins": (chosen_rewards - rejected_rewards).sum(),
        "logps/chosen": chosen_logps.detach().sum(),
        "logps/rejected": rejected_logps.detach().sum(),
    }


def dpo_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> Loss:
    """Direct preference optimisation and its variants: a policy pi_theta learns from pairs against a frozen pi_ref.

    All inputs (B,): chosen_logps = log pi_theta(y_w | x), rejected_logps = log pi_theta(y_l | x), and
    ref_chosen_logps, ref_rejected_logps the same under pi_ref. With the logratios

        h = (log pi_theta(y_w|x) - log pi_theta(y_l|x)) - (log pi_ref(y_w|x) - log pi_ref(y_l|x)),

    sigma the logistic function, beta > 0 the strength of the KL constraint to pi_ref and eps = label_smoothing,
    the loss of a pair is, by loss_type:

        "sigmoid"  -log sigma(beta h)                                          DPO (Rafailov et al. 2023)
        "cdpo"     -(1 - eps) log sigma(beta h) - eps log sigma(-beta h)       conservative DPO (Mitchell 2023):
                                                                               each label flipped with prob. eps,
                                                                               eps in (0, 0.5); TRL's label smoothing
        "robust"   (-(1 - eps) log sigma(beta h) + eps log sigma(-beta h))     robust DPO (Chowdhury et al. 2024),
                   / (1 - 2 eps)                                               unbiased under label noise eps,
                                                                               eps in [0, 0.5)
        "hinge"    max(0, 1 - beta h)                                          SLiC (Zhao et al. 2023)
        "ipo"      (h - 1 / (2 beta))^2                                        IPO (Azar et al. 2023)
        "ipo_norm" (h - 1 / (2 beta))^2

    "ipo" and "ipo_norm" are the same formula and differ only in what the caller passes: summed log-probs for
    "ipo" (the paper's form), per-token means (logps / counts) for "ipo_norm" (TRL's length-normalised form).

    Metrics: the implicit rewards r_w = beta (log pi_theta(y_w|x) - log pi_ref(y_w|x)) ("rewards/chosen") and
    r_l likewise ("rewards/rejected"), whether r_w > r_l ("rewards/accuracies"), r_w - r_l ("rewards/margins"),
    and the policy's log-probs ("logps/chosen", "logps/rejected").
    """
    if loss_type not in DPO_LOSSES:
        raise ValueError(f"unknown DPO loss_type {loss_type!r}: expected one of {', '.join(DPO_LOSSES)}")
    eps = label_smoothing
    if loss_type == "cdpo" and not 0 < eps < 0.5:
        raise ValueError(f"cdpo needs label_smoothing in (0, 0.5), got {eps}")
    if loss_type == "robust" and not 0 <= eps < 0.5:
        raise ValueError(f"robust DPO needs label_smoothing in [0, 0.5), got {eps}")
    if loss_type not in ("cdpo", "robust") and eps != 0:
        raise ValueError(f"label_smoothing applies to cdpo and robust DPO only, not to {loss_type!r}")
    chosen_logps, rejected_logps = upcast(chosen_logps), upcast(rejected_logps)
    ref_chosen_logps, ref_rejected_logps = upcast(ref_chosen_logps), upcast(ref_rejected_logps)

    logratios = (chosen_logps - rejected_logps) - (ref_chosen_logps - ref_rejected_logps)  # h, (B,)
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * logratios)
    elif loss_type == "cdpo":
        losses = -(1 - eps) * F.logsigmoid(beta * logratios) - eps * F.logsigmoid(-beta * logratios)
    elif loss_type == "robust":
        losses = (-(1 - eps) * F.logsigmoid(beta * logratios) + eps * F.logsigmoid(-beta * logratios)) / (1 - 2 * eps)
    elif loss_type == "hinge":
        losses = F.relu(1 - beta * logratios)
    else:  # ipo, ipo_norm: regress h onto a fixed target instead of pushing it to infinity
        losses = (logratios - 1 / (2 * beta)) ** 2

    chosen_rewards = beta * (chosen_logps - ref_chosen_logps)
    rejected_rewards = beta * (rejected_logps - ref_rejected_logps)
    metrics = _preference_metrics(chosen_rewards, rejected_rewards, chosen_logps, rejected_logps)
    return Loss(losses.sum(), len(losses), metrics)


def simpo_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor, beta: float, gamma: float) -> Loss:
    """SimPO (Meng et al. 2024): DPO without a reference model, the reward being the length-normalised log-prob.

        L = -log sigma(beta / |y_w| log pi_theta(y_w|x) - beta / |y_l| log pi_theta(y_l|x) - gamma)

    chosen_logps, rejected_logps (B,): the per-token mean log-probs (1/|y|) log pi_theta(y|x) of the chosen y_w and
    rejected y_l (sequence_logps' logps / counts). beta scales the reward r(y) = beta / |y| log pi_theta(y|x); gamma
    is the target margin by which r(y_w) should exceed r(y_l); sigma is the logistic function.

    Metrics: r(y_w) ("rewards/chosen"), r(y_l) ("rewards/rejected"), whether r(y_w) > r(y_l) ("rewards/accuracies"),
    r(y_w) - r(y_l) ("rewards/margins"), and the mean log-probs ("logps/chosen", "logps/rejected").
    """
    chosen_logps, rejected_logps = upcast(chosen_logps), upcast(rejected_logps)
    losses = -F.logsigmoid(beta * (chosen_logps - rejected_logps) - gamma)
    metrics = _preference_metrics(beta * chosen_logps, beta * rejected_logps, chosen_logps, rejected_logps)
    return Loss(losses.sum(), len(losses), metrics)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x <= 0, accurate over the whole range (Maechler 2012, "Accurately Computing
    log(1 - exp(-|a|))").

    Near 0, 1 - exp(x) cancels, so it takes log(-expm1(x)); far below, exp(x) underflows against 1, so it takes
    log1p(-exp(x)). The switch at x = -ln 2 is where both are accurate. x = 0 gives -inf.
    """
    # Each branch is evaluated on inputs clamped to its own range, so the other branch's inf/nan cannot leak into
    # the gradient through torch.where.
    near_zero = x > -math.log(2)
    return torch.where(
        near_zero,
        torch.log(-torch.expm1(x.clamp(min=-math.log(2)))),
        torch.log1p(-torch.exp(x.clamp(max=-math.log(2)))),
    )


def orpo_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor, chosen_nll: torch.Tensor, lam: float) -> Loss:
    """ORPO (Hong et al. 2024): SFT on the chosen response plus an odds-ratio penalty, with no reference model.

        L = L_SFT - lam log sigma(log odds(y_w|x) - log odds(y_l|x)),   odds(y|x) = P(y|x) / (1 - P(y|x))

    chosen_logps, rejected_logps (B,): the per-token mean log-probs log P(y|x) = (1/|y|) log pi_theta(y|x) (<= 0)
    of the chosen y_w and rejected y_l; chosen_nll (B,): L_SFT, the per-token mean negative log-likelihood of y_w
    (usually -chosen_logps, passed on its own so the caller decides); lam weighs the odds-ratio term; sigma is the
    logistic function. log odds(y|x) = log P - log(1 - exp(log P)), through the stable log1mexp. The log-probs are
    first clamped to at most MAX_ORPO_LOGP = -1e-6, so that a response of probability 1 (log P == 0, infinite odds)
    still gives a finite loss and gradient (the odds-ratio term then has no gradient with respect to that log-prob).

    Metrics: lam log P(y_w|x) ("rewards/chosen"), lam log P(y_l|x) ("rewards/rejected"), their comparison and
    difference ("rewards/accuracies", "rewards/margins"), the mean log-probs ("logps/chosen", "logps/rejected"),
    L_SFT ("nll_loss"), log sigma(log odds ratio) ("log_odds_ratio") and the log odds ratio ("log_odds_chosen").
    """
    chosen_logps, rejected_logps, chosen_nll = upcast(chosen_logps), upcast(rejected_logps), upcast(chosen_nll)

    def log_odds(logps):  # log(P / (1 - P)) from log P
        logps = logps.clamp(max=MAX_ORPO_LOGP)
        return logps - log1mexp(logps)

    log_odds_ratio = log_odds(chosen_logps) - log_odds(rejected_logps)  # (B,)
    log_sigma_ratio = F.logsigmoid(log_odds_ratio)
    losses = chosen_nll - lam * log_sigma_ratio

    metrics = _preference_metrics(lam * chosen_logps, lam * rejected_logps, chosen_logps, rejected_logps)
    metrics["nll_loss"] = chosen_nll.detach().sum()
    metrics["log_odds_ratio"] = log_sigma_ratio.detach().sum()
    metrics["log_odds_chosen"] = log_odds_ratio.detach().sum()
    return Loss(losses.sum(), len(losses), metrics)


def bradley_terry_loss(
    chosen_rewards: torch.Tensor,
    rejected_rewards: torch.Tensor,
    margin: torch.Tensor | None = None,
    center_coef: float = 0.0,
) -> Loss:
    """The reward model's loss: the Bradley-Terry likelihood (Bradley & Terry 1952) of the human preferences.

        L = -log sigma(r(x, y_w) - r(x, y_l) - m) + center_coef (r(x, y_w) + r(x, y_l))^2

    chosen_rewards, rejected_rewards (B,): the scalar rewards r(x, y_w), r(x, y_l) the model gives the chosen and
    rejected responses (reward modelling as in Ouyang et al. 2022); sigma is the logistic function. margin (B,), if
    given, is m, how much more y_w is preferred (Llama 2, Touvron et al. 2023); else m = 0. center_coef weighs a
    penalty that keeps the rewards centred on 0, which the Bradley-Terry likelihood alone leaves free (Eisenstein
    et al. 2023; TRL's center_rewards_coefficient).

    Metrics: whether r(x, y_w) > r(x, y_l) ("accuracy"), r(x, y_w) - r(x, y_l) ("margin"), and the rewards
    ("rewards/chosen", "rewards/rejected").
    """
    chosen_rewards, rejected_rewards = upcast(chosen_rewards), upcast(rejected_rewards)
    m = 0.0 if margin is None else upcast(margin)
    losses = -F.logsigmoid(chosen_rewards - rejected_rewards - m)
    if center_coef:
        losses = losses + center_coef * (chosen_rewards + rejected_rewards) ** 2

    chosen_rewards, rejected_rewards = chosen_rewards.detach(), rejected_rewards.detach()
    metrics = {
        "accuracy": (chosen_rewards > rejected_rewards).to(chosen_rewards.dtype).sum(),
        "margin": (chosen_rewards - rejected_rewards).sum(),
        "rewards/chosen": chosen_rewards.sum(),
        "rewards/rejected": rejected_rewards.sum(),
    }
    return Loss(losses.sum(), len(losses), metrics)
