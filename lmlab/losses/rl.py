"""The policy-gradient math of reinforcement learning on language models: PPO as in RLHF, and the group-baseline
methods GRPO, RLOO, Dr. GRPO and DAPO. Pure functions of per-token tensors; the stages generate the rollouts, score
them and call these.

A rollout is a prompt x and a sampled response o = (o_1 .. o_T) from the policy pi_theta. Every method maximises
the reward of o through the clipped surrogate of PPO (Schulman et al. 2017, "Proximal Policy Optimization
Algorithms"): with the ratio rho_t = pi_theta(o_t | x, o_<t) / pi_old(o_t | x, o_<t) to the policy that sampled o
and an advantage A_t,

    L_t = max(-A_t rho_t, -A_t clip(rho_t, 1 - eps_low, 1 + eps_high))

(clipped_policy_loss). They differ in where A_t comes from and how L_t is averaged:

  PPO (RLHF)  A_t from a learned value function V by generalised advantage estimation (Schulman et al. 2016,
              "High-Dimensional Continuous Control Using Generalized Advantage Estimation"; gae). The per-token
              reward is -beta k_t, a KL penalty to the frozen reference policy (kl_penalty), plus the reward model's
              score at the last token; beta is fixed or adapted to a target KL (Ziegler et al. 2019, "Fine-Tuning
              Language Models from Human Preferences"; AdaptiveKLController). Advantages are whitened, the value
              loss clipped (clipped_value_loss), as in Huang et al. 2024, "The N+ Implementation Details of RLHF
              with PPO: A Case Study on TL;DR Summarization".
  GRPO        no value function: G responses per prompt, and each response's A_t = its reward standardised within
              its group (Shao et al. 2024, "DeepSeekMath", group relative policy optimisation;
              group_advantages "grpo"). The KL to the reference is a loss term, k3 below, not a reward. The loss is a
              mean over each sequence's tokens, then over sequences ("seq-mean-token-mean").
  RLOO        A = r_i minus the mean reward of the other G - 1 responses to the same prompt, an unbiased REINFORCE
              baseline (Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style Optimization for Learning
              from Human Feedback in LLMs"; "rloo").
  Dr. GRPO    GRPO without its two biases (Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical
              Perspective"): no division by the group's std (it up-weights too easy and too hard prompts, "dr_grpo"),
              and no division by the response's own length (it favours long wrong answers): each sequence's token
              sum is divided by a constant, the generation budget ("seq-mean-token-sum-norm").
  DAPO        GRPO with a larger eps_high than eps_low ("clip-higher", against entropy collapse), a token-level mean
              over the whole batch ("token-mean"), and dynamic sampling, which drops groups whose rewards are all
              equal, since their advantages are all 0 (Yu et al. 2025, "DAPO: An Open-Source LLM Reinforcement
              Learning System at Scale"; zero_spread_groups measures how many there are).

KL(pi || ref) is estimated per token from samples o_t ~ pi (Schulman 2020, "Approximating KL Divergence",
http://joschu.net/blog/kl-approx.html), with r = log ref(o_t) - log pi(o_t):

    k1 = -r                 unbiased, high variance, can be negative
    k2 = r^2 / 2            biased, low variance, >= 0
    k3 = (e^r - 1) - r      unbiased, low variance, >= 0 (GRPO's choice)

Names of metrics and defaults follow TRL (PPOTrainer, GRPOTrainer) and verl (the loss aggregation modes).
Shapes: B rollouts, T response tokens; mask (B, T) bool is True at the response's tokens.
"""

import torch

from lmlab.losses import upcast

KL_ESTIMATORS = ("k1", "k2", "k3")
GROUP_ADVANTAGES = ("grpo", "rloo", "dr_grpo")
AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")


def kl_penalty(logps: torch.Tensor, ref_logps: torch.Tensor, estimator: str) -> torch.Tensor:
    """An elementwise estimate of KL(pi || ref) at tokens sampled from pi, by Schulman's k1, k2 or k3.

    logps = log pi(o_t), ref_logps = log ref(o_t), any shape (usually (B, T)); r = ref_logps - logps:

        k1 = logps - ref_logps = -r,    k2 = (logps - ref_logps)^2 / 2,    k3 = e^r - 1 - r

    k3 is computed as expm1(r) - r, which keeps its r^2 / 2 accuracy when r is tiny (e^r - 1 would cancel).
    """
    if estimator not in KL_ESTIMATORS:
        raise ValueError(f"unknown KL estimator {estimator!r}: expected one of {', '.join(KL_ESTIMATORS)}")
    logratios = upcast(logps) - upcast(ref_logps)  # log pi - log ref = -r
    if estimator == "k1":
        return logratios
    if estimator == "k2":
        return 0.5 * logratios**2
    r = -logratios
    return torch.expm1(r) - r


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """The mean of x over the positions where mask is True (over dim, or over everything); nan if there are none.
    Values outside the mask never reach the result, not even a nan or inf."""
    mask = mask.bool()
    total = torch.where(mask, x, 0).sum() if dim is None else torch.where(mask, x, 0).sum(dim)
    count = mask.sum() if dim is None else mask.sum(dim)
    return total / count


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """The variance of x over all positions where mask is True; unbiased divides by n - 1 (nan if n < 2, as
    torch.var), else by n."""
    mask = mask.bool()
    var = masked_mean((x - masked_mean(x, mask)) ** 2, mask)
    if unbiased:
        n = mask.sum()
        var = var * n / (n - 1)
    return var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """x standardised over the positions where mask is True: (x - mu) / sqrt(sigma^2 + eps), sigma^2 unbiased, 0
    outside the mask. shift_mean=False adds mu back, rescaling only (TRL's masked_whiten; PPO whitens the
    advantages with shift_mean=True, and the rewards, optionally, without)."""
    mask = mask.bool()
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    whitened = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return torch.where(mask, whitened, 0)


@torch.no_grad()
def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016), the advantages A_t and returns of PPO.

    rewards r_t, values V_t (the value model's estimate at token t) and mask, all (B, T); each row's True positions
    are a contiguous prefix, the response. With V_{t+1} = 0 at the last response token (the episode ends there),

        delta_t = r_t + gamma V_{t+1} - V_t,    A_t = delta_t + gamma lam A_{t+1},    returns_t = A_t + V_t

    gamma discounts future rewards; lam trades bias (lam = 0: A_t = delta_t, one-step TD) for variance (lam = 1:
    A_t = sum of future discounted rewards - V_t, Monte Carlo). RLHF uses gamma = 1, lam = 0.95 (Huang et al.
    2024). Returns (advantages, returns), both (B, T), 0 outside the mask, and without gradient: they are targets.
    """
    mask = mask.bool()
    B, T = rewards.shape
    rewards, values = torch.where(mask, rewards, 0), torch.where(mask, values, 0)
    # V_{t+1}, 0 where t + 1 is past the response: the prefix mask makes "t + 1 in the mask" the test for the end
    next_values = torch.cat([values[:, 1:], values.new_zeros(B, 1)], dim=1)  # (B, T), already 0 outside the mask
    deltas = rewards + gamma * next_values - values  # (B, T)
    advantages = torch.zeros_like(deltas)
    next_advantage = deltas.new_zeros(B)  # A_{t+1}, 0 past the end
    for t in reversed(range(T)):
        next_advantage = torch.where(mask[:, t], deltas[:, t] + gamma * lam * next_advantage, 0)
        advantages[:, t] = next_advantage
    returns = torch.where(mask, advantages + values, 0)
    return advantages, returns


def _groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """rewards (N,) as (N / G, G), one group of G responses to the same prompt per row."""
    if group_size < 2:
        raise ValueError(f"a group needs at least 2 responses to compare, got group_size={group_size}")
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    return rewards.view(-1, group_size)


def group_advantages(rewards: torch.Tensor, group_size: int, method: str, eps: float = 1e-4) -> torch.Tensor:
    """The advantage of each response relative to the other responses to the same prompt: no value model.

    rewards (N,), N = (number of prompts) G, the G responses to a prompt consecutive. With mu and sigma the mean and
    unbiased standard deviation of a group's rewards r_1 .. r_G, response i gets, by method,

        "grpo"      (r_i - mu) / (sigma + eps)                  GRPO (Shao et al. 2024), eps as TRL
        "rloo"      r_i - 1/(G-1) sum_{j != i} r_j              RLOO (Ahmadian et al. 2024); = G/(G-1) (r_i - mu)
        "dr_grpo"   r_i - mu                                    Dr. GRPO (Liu et al. 2025)

    Returns (N,), to be broadcast over the response's tokens (outcome rewards: every token gets the same A).
    """
    if method not in GROUP_ADVANTAGES:
        raise ValueError(f"unknown group advantage {method!r}: expected one of {', '.join(GROUP_ADVANTAGES)}")
    groups = _groups(rewards, group_size)  # (N / G, G)
    mean = groups.mean(dim=1, keepdim=True)  # (N / G, 1)
    if method == "grpo":
        advantages = (groups - mean) / (groups.std(dim=1, keepdim=True) + eps)
    elif method == "rloo":
        advantages = groups - (groups.sum(dim=1, keepdim=True) - groups) / (group_size - 1)
    else:
        advantages = groups - mean
    return advantages.reshape(-1)


def zero_spread_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """The fraction of groups whose G rewards are all equal (scalar float): their group advantages are all 0, so they
    teach nothing (DAPO's dynamic sampling filters them out; Yu et al. 2025). rewards (N,) as group_advantages."""
    groups = _groups(rewards, group_size)
    return (groups == groups[:, :1]).all(dim=1).float().mean()


def clipped_policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    clip_low: float,
    clip_high: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate (Schulman et al. 2017), per token, as a loss to minimise.

    logps = log pi_theta(o_t), old_logps = log pi_old(o_t) under the policy that sampled the rollout, advantages A_t,
    all the same shape (A broadcasts, e.g. (B, 1) for GRPO's one advantage per response). With
    rho_t = pi_theta(o_t) / pi_old(o_t) = exp(logps - old_logps),

        L_t = max(-A_t rho_t, -A_t clip(rho_t, 1 - clip_low, 1 + clip_high))

    the pessimistic bound: once rho_t has moved past the clip range in the direction A_t favours, the clipped term
    is the larger, and it is constant in theta, so the token stops pushing. clip_high defaults to clip_low (PPO's
    eps = 0.2); DAPO's clip-higher (Yu et al. 2025) takes a larger clip_high, e.g. 0.28, so unlikely tokens with
    A > 0 can grow further. Returns (loss, ratio, clipped): L_t, rho_t, and where the clipped term is strictly the
    larger (TRL's clipfrac counts those).
    """
    clip_high = clip_low if clip_high is None else clip_high
    ratio = torch.exp(upcast(logps) - upcast(old_logps))  # rho_t
    unclipped = -advantages * ratio
    clipped_term = -advantages * torch.clamp(ratio, 1 - clip_low, 1 + clip_high)
    return torch.maximum(unclipped, clipped_term), ratio, clipped_term > unclipped


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip: float
) -> torch.Tensor:
    """PPO's value loss, per token, with the value clipped to within clip of the rollout's values (as OpenAI's
    baselines PPO2 and the RLHF implementations Huang et al. 2024 reproduce; TRL's cliprange_value):

        L^V_t = 1/2 max((V_t - R_t)^2, (clip(V_t, V^old_t - clip, V^old_t + clip) - R_t)^2)

    values V_t (current value model), old_values V^old_t (when the rollout was made), returns R_t (gae's targets).
    """
    values, old_values, returns = upcast(values), upcast(old_values), upcast(returns)
    clipped_values = torch.clamp(values, old_values - clip, old_values + clip)
    return 0.5 * torch.maximum((values - returns) ** 2, (clipped_values - returns) ** 2)


def approx_kl(logps: torch.Tensor, old_logps: torch.Tensor) -> torch.Tensor:
    """How far the policy has moved from the rollout's since sampling, per token: (log pi_theta - log pi_old)^2 / 2,
    the k2 estimate of KL(pi_old || pi_theta) on samples of pi_old (TRL's policy/approxkl_avg). A metric, not a loss."""
    return 0.5 * (upcast(logps) - upcast(old_logps)) ** 2


def aggregate(
    per_token: torch.Tensor, mask: torch.Tensor, mode: str, max_len: int | None = None
) -> tuple[torch.Tensor, int]:
    """Reduce a per-token loss (B, T) over the response tokens (mask (B, T)) to (loss_sum, n) for a Loss.

    The one training loop (lmlab.trainer) adds up the loss_sum and n of every micro-batch on every process and
    divides, so a step's loss is (sum of all loss_sum) / (sum of all n). Each mode splits its mean into a sum and a
    count of terms that add across micro-batches: a term is a token or a whole sequence, never split between two
    micro-batches, so accumulation and DDP give the same loss, hence gradient, as one big batch. (Averaging each
    micro-batch first and then the micro-batches would weight a token by the size of its micro-batch.)

        "token-mean"               sum over all tokens / number of tokens: each token weighs the same (DAPO)
        "seq-mean-token-mean"      sum over sequences of (the sequence's token mean) / number of sequences: each
                                   sequence weighs the same, a token of a long one less (GRPO); sequences with no
                                   token are not counted
        "seq-mean-token-sum-norm"  sum over sequences of (the sequence's token sum / max_len) / number of sequences:
                                   max_len a constant, the generation budget, so no length bias (Dr. GRPO)

    The names are verl's loss_agg_mode. Positions outside the mask never reach the sum, not even a nan or inf.
    """
    if mode not in AGGREGATIONS:
        raise ValueError(f"unknown loss aggregation {mode!r}: expected one of {', '.join(AGGREGATIONS)}")
    mask = mask.bool()
    token_sums = torch.where(mask, per_token, 0).sum(dim=1)  # (B,)
    counts = mask.sum(dim=1)  # (B,)
    if mode == "token-mean":
        return token_sums.sum(), int(counts.sum())
    if mode == "seq-mean-token-mean":
        has_tokens = counts > 0
        return torch.where(has_tokens, token_sums / counts.clamp(min=1), 0).sum(), int(has_tokens.sum())
    if max_len is None:
        raise ValueError("seq-mean-token-sum-norm needs max_len, the constant that divides each sequence's sum")
    return (token_sums / max_len).sum(), per_token.size(0)


class AdaptiveKLController:
    """The KL coefficient beta of PPO's reward -beta KL, adapted towards a target KL (Ziegler et al. 2019, eq. 2):

        err = clip(KL / KL_target - 1, -0.2, 0.2),    beta <- beta (1 + err n_steps / horizon)

    KL the current KL(pi || ref) per rollout, n_steps the rollouts since the last update; horizon sets the speed: at
    a steady err, beta changes by a factor of about exp(err) every horizon rollouts. Clipping err bounds how fast
    one outlying KL can move beta."""

    def __init__(self, init_coef: float, target: float, horizon: float):
        self.value, self.target, self.horizon = float(init_coef), float(target), float(horizon)

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(float(current_kl) / self.target - 1, -0.2), 0.2)
        self.value *= 1 + error * n_steps / self.horizon

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = float(state["value"])


class FixedKLController:
    """A constant KL coefficient beta, with AdaptiveKLController's interface."""

    def __init__(self, value: float):
        self.value = float(value)

    def update(self, current_kl: float, n_steps: int) -> None:
        pass

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = float(state["value"])


@torch.no_grad()
def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """How much of the returns' variance the value model explains, over the mask: 1 - Var(R - V) / Var(R).

    1 is perfect, 0 no better than a constant, negative worse. values, returns, mask (B, T); a float tensor. When
    the returns are constant (Var(R) = 0) the ratio is undefined; as scikit-learn's explained_variance_score, it is
    then 1 if V is off by a constant only (Var(R - V) = 0), else 0, so the logged metric is never nan or inf. An
    empty mask gives nan.
    """
    var_returns = masked_var(returns, mask, unbiased=False)  # biased: the n / (n - 1) cancels, and n = 1 works
    var_residual = masked_var(returns - values, mask, unbiased=False)
    degenerate = (var_residual == 0).to(var_returns.dtype)
    return torch.where(var_returns == 0, degenerate, 1 - var_residual / var_returns)
