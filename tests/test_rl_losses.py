import math

import pytest
import torch

from lmlab.losses.rl import (
    AGGREGATIONS,
    GROUP_ADVANTAGES,
    KL_ESTIMATORS,
    AdaptiveKLController,
    FixedKLController,
    aggregate,
    approx_kl,
    clipped_policy_loss,
    clipped_value_loss,
    explained_variance,
    gae,
    group_advantages,
    kl_penalty,
    masked_mean,
    masked_var,
    masked_whiten,
    zero_spread_groups,
)

TOL = 1e-6


def t(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype)


def assert_close(actual, expected, tol=TOL):
    expected = torch.as_tensor(expected, dtype=actual.dtype)
    assert torch.allclose(actual, expected, atol=tol, rtol=0), f"{actual} != {expected}"


# ---------------------------------------------------------------- KL estimators


def test_kl_estimators_by_hand():
    logps, ref_logps = t([-1.0, -2.0, -0.5]), t([-1.5, -1.0, -0.5])
    d = [0.5, -1.0, 0.0]  # logps - ref_logps
    assert_close(kl_penalty(logps, ref_logps, "k1"), d)
    assert_close(kl_penalty(logps, ref_logps, "k2"), [0.5 * x * x for x in d])
    # k3 = e^r - 1 - r, r = -d: e^-0.5 - 1 + 0.5, e^1 - 1 - 1, e^0 - 1 - 0
    assert_close(kl_penalty(logps, ref_logps, "k3"), [math.exp(-0.5) - 0.5, math.e - 2, 0.0])


def test_unknown_kl_estimator_is_an_error():
    with pytest.raises(ValueError, match="k4"):
        kl_penalty(t([0.0]), t([0.0]), "k4")


@pytest.mark.parametrize("d", [30.0, -30.0])
def test_k3_is_finite_at_large_log_ratios(d):
    # float32 inputs, compared with the exact formula in float64
    k3 = kl_penalty(torch.tensor([d]), torch.tensor([0.0]), "k3")
    assert torch.isfinite(k3).all()
    r = -d
    assert k3.item() == pytest.approx(math.exp(r) - 1 - r, rel=TOL)


def test_k3_is_accurate_at_tiny_log_ratios():
    # r = 1e-6: k3 = r^2/2 + r^3/6 + ..., which e^r - 1 - r computed naively would lose to cancellation
    r = 1e-6
    k3 = kl_penalty(t([0.0]), t([r]), "k3")
    assert k3.item() == pytest.approx(r**2 / 2 + r**3 / 6, rel=TOL)


def test_k1_and_k3_estimate_the_kl_of_two_categoricals():
    p, q = t([0.1, 0.2, 0.3, 0.4]), t([0.25, 0.25, 0.25, 0.25])
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p.tolist(), q.tolist()))  # exact KL(p || q)
    samples = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    logps, ref_logps = p.log()[samples], q.log()[samples]
    k3 = kl_penalty(logps, ref_logps, "k3")
    assert (k3 >= 0).all()
    assert kl_penalty(logps, ref_logps, "k1").mean().item() == pytest.approx(kl, abs=0.01)
    assert k3.mean().item() == pytest.approx(kl, abs=0.01)
    assert set(KL_ESTIMATORS) == {"k1", "k2", "k3"}


# ---------------------------------------------------------------- masked statistics


def test_masked_mean_and_var_ignore_positions_outside_the_mask():
    x = t([[1.0, 2.0, float("nan")], [3.0, float("inf"), 4.0]])
    mask = torch.tensor([[True, True, False], [True, False, True]])
    # 1, 2, 3, 4: mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert masked_mean(x, mask).item() == pytest.approx(2.5, abs=TOL)
    assert_close(masked_mean(x, mask, dim=1), [1.5, 3.5])
    assert masked_var(x, mask).item() == pytest.approx(5 / 3, abs=TOL)
    assert masked_var(x, mask, unbiased=False).item() == pytest.approx(5 / 4, abs=TOL)


def test_whitening_by_hand():
    x = t([1.0, 2.0, 3.0, 100.0])
    mask = torch.tensor([True, True, True, False])
    # over 1, 2, 3: mean 2, unbiased var (1 + 0 + 1) / 2 = 1
    s = math.sqrt(1 + 1e-8)
    assert_close(masked_whiten(x, mask), [-1 / s, 0.0, 1 / s, 0.0])
    assert_close(masked_whiten(x, mask, shift_mean=False), [-1 / s + 2, 2.0, 1 / s + 2, 0.0])


def test_whitening_gives_mean_0_and_var_1_over_the_mask_and_0_outside():
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3 + 5
    mask = torch.arange(6) < torch.tensor([[6], [3], [1], [4]])
    w = masked_whiten(x, mask)
    assert masked_mean(w, mask).item() == pytest.approx(0.0, abs=TOL)
    assert masked_var(w, mask).item() == pytest.approx(1.0, abs=TOL)
    assert (w[~mask] == 0).all()
    # shift_mean=False only rescales: the mean is kept
    kept = masked_whiten(x, mask, shift_mean=False)
    assert masked_mean(kept, mask).item() == pytest.approx(masked_mean(x, mask).item(), abs=TOL)
    assert masked_var(kept, mask).item() == pytest.approx(1.0, abs=TOL)


# ---------------------------------------------------------------- GAE


def test_gae_by_hand():
    gamma, lam = 0.9, 0.8
    rewards = t([[0.1, -0.2, 1.0], [0.0, 2.0, 99.0]])
    values = t([[0.5, 0.4, 0.3], [1.0, 0.5, 77.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    # row 0, backwards; V after the last token is 0, gamma * lam = 0.72:
    #   delta_2 = 1.0 - 0.3 = 0.7                    A_2 = 0.7
    #   delta_1 = -0.2 + 0.9 * 0.3 - 0.4 = -0.33     A_1 = -0.33 + 0.72 * 0.7 = 0.174
    #   delta_0 = 0.1 + 0.9 * 0.4 - 0.5 = -0.04      A_0 = -0.04 + 0.72 * 0.174 = 0.08528
    # row 1 ends at t = 1, so its 99 and 77 must not leak in:
    #   delta_1 = 2.0 - 0.5 = 1.5                    A_1 = 1.5
    #   delta_0 = 0.0 + 0.9 * 0.5 - 1.0 = -0.55      A_0 = -0.55 + 0.72 * 1.5 = 0.53
    advantages, returns = gae(rewards, values, mask, gamma, lam)
    assert_close(advantages, [[0.08528, 0.174, 0.7], [0.53, 1.5, 0.0]])
    assert_close(returns, [[0.08528 + 0.5, 0.174 + 0.4, 0.7 + 0.3], [0.53 + 1.0, 1.5 + 0.5, 0.0]])


def test_gae_with_gamma_and_lambda_1_returns_the_sum_of_future_rewards():
    g = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(3, 5, generator=g)
    mask = torch.arange(5) < torch.tensor([[5], [2], [4]])
    values = values.double().requires_grad_()
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    masked_rewards = torch.where(mask, rewards, 0)
    future = masked_rewards.flip(1).cumsum(1).flip(1)  # sum_{k >= t} r_k
    assert_close(returns, torch.where(mask, future, 0))
    assert_close(advantages, torch.where(mask, future - values.detach(), 0))
    assert not advantages.requires_grad and not returns.requires_grad


def test_gae_ignores_what_lies_after_the_response():
    rewards, values = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    mask = torch.tensor([[True, True, False, False]] * 2)
    rewards[1, 2:], values[1, 2:] = 1e6, float("nan")  # row 1 differs from row 0 only past its end
    rewards[1, :2], values[1, :2] = rewards[0, :2], values[0, :2]
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.95)
    assert_close(advantages[1], advantages[0])
    assert_close(returns[1], returns[0])
    assert (advantages[:, 2:] == 0).all() and (returns[:, 2:] == 0).all()


# ---------------------------------------------------------------- group advantages

# Two prompts, three responses each.
GROUP_REWARDS = [1.0, 0.0, 0.0, 2.0, 4.0, 6.0]


def test_grpo_advantages_by_hand():
    # group 0: mean 1/3, deviations 2/3, -1/3, -1/3, unbiased var (4/9 + 1/9 + 1/9) / 2 = 1/3
    # group 1: mean 4, deviations -2, 0, 2, unbiased var (4 + 0 + 4) / 2 = 4
    s0, s1 = math.sqrt(1 / 3) + 1e-4, 2.0 + 1e-4
    expected = [2 / 3 / s0, -1 / 3 / s0, -1 / 3 / s0, -2 / s1, 0.0, 2 / s1]
    assert_close(group_advantages(t(GROUP_REWARDS), 3, "grpo"), expected)


def test_rloo_advantages_by_hand():
    # r_i minus the mean of the other two: 1 - 0, 0 - 0.5, 0 - 0.5; 2 - 5, 4 - 4, 6 - 3
    assert_close(group_advantages(t(GROUP_REWARDS), 3, "rloo"), [1.0, -0.5, -0.5, -3.0, 0.0, 3.0])


def test_dr_grpo_advantages_by_hand():
    assert_close(group_advantages(t(GROUP_REWARDS), 3, "dr_grpo"), [2 / 3, -1 / 3, -1 / 3, -2.0, 0.0, 2.0])


def test_rloo_is_a_rescaled_dr_grpo():
    rewards = torch.randn(20, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    G = 5
    # r_i - mean of the others = G / (G - 1) (r_i - mean)
    assert_close(group_advantages(rewards, G, "rloo"), G / (G - 1) * group_advantages(rewards, G, "dr_grpo"))


@pytest.mark.parametrize("method", GROUP_ADVANTAGES)
def test_a_group_of_equal_rewards_has_zero_advantages(method):
    assert_close(group_advantages(t([3.0, 3.0, 3.0, 3.0]), 4, method), [0.0] * 4)


def test_group_advantages_reject_bad_groups():
    with pytest.raises(ValueError, match="at least 2"):
        group_advantages(t([1.0, 2.0]), 1, "grpo")
    with pytest.raises(ValueError, match="groups of 4"):
        group_advantages(t([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), 4, "grpo")
    with pytest.raises(ValueError, match="ppo"):
        group_advantages(t([1.0, 2.0]), 2, "ppo")


def test_zero_spread_groups():
    rewards = t([1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0, 5.0])
    assert zero_spread_groups(rewards, 3).item() == pytest.approx(2 / 4, abs=TOL)  # groups 0 and 2
    assert zero_spread_groups(t([0.0, 1.0, 0.0, 1.0]), 2).item() == 0.0


# ---------------------------------------------------------------- policy and value losses


def test_policy_loss_at_ratio_1_is_minus_the_advantage():
    logps = t([-1.0, -2.0, -0.3])
    advantages = t([0.5, -1.5, 2.0])
    loss, ratio, clipped = clipped_policy_loss(logps, logps.clone(), advantages, 0.2)
    assert_close(loss, [-0.5, 1.5, -2.0])
    assert_close(ratio, [1.0, 1.0, 1.0])
    assert not clipped.any()


def test_policy_loss_clips_by_hand_and_stops_the_gradient_when_clipped():
    # ratios 1.5, 1.5, 0.5, 0.5 with advantages +1, -1, +1, -1 and eps = 0.2:
    #   rho = 1.5, A = +1: max(-1.5, -1.2) = -1.2  clipped (the update went far enough)
    #   rho = 1.5, A = -1: max(1.5, 1.2) = 1.5     not clipped (a bad token made likelier is always pushed back)
    #   rho = 0.5, A = +1: max(-0.5, -0.8) = -0.5  not clipped
    #   rho = 0.5, A = -1: max(0.5, 0.8) = 0.8     clipped
    old_logps = t([-1.0, -1.0, -1.0, -1.0])
    logps = (old_logps + t([1.5, 1.5, 0.5, 0.5]).log()).requires_grad_()
    advantages = t([1.0, -1.0, 1.0, -1.0])
    loss, ratio, clipped = clipped_policy_loss(logps, old_logps, advantages, 0.2)
    assert_close(loss.detach(), [-1.2, 1.5, -0.5, 0.8])
    assert_close(ratio.detach(), [1.5, 1.5, 0.5, 0.5])
    assert clipped.tolist() == [True, False, False, True]
    loss.sum().backward()
    # d(-A rho) / d logps = -A rho where not clipped, 0 where clipped
    assert_close(logps.grad, [0.0, 1.5, -0.5, 0.0])


def test_clip_higher_lets_likely_good_tokens_grow_further():
    # rho = 1.25 with A = +1: clipped at 1.2 with eps = 0.2, not at 1.28 with clip_high = 0.28;
    # rho = 0.75 with A = -1: clipped at 0.8 by clip_low either way
    old_logps = t([0.0, 0.0])
    logps = t([1.25, 0.75]).log()
    advantages = t([1.0, -1.0])
    loss, _, clipped = clipped_policy_loss(logps, old_logps, advantages, 0.2)
    assert_close(loss, [-1.2, 0.8])
    assert clipped.tolist() == [True, True]
    loss, _, clipped = clipped_policy_loss(logps, old_logps, advantages, 0.2, clip_high=0.28)
    assert_close(loss, [-1.25, 0.8])
    assert clipped.tolist() == [False, True]


def test_value_loss_by_hand():
    values, old_values = t([1.0, 1.0, 2.0, 1.0]), t([0.5, 0.9, 2.0, 0.5])
    returns = t([2.0, 0.0, 2.5, 0.0])
    # clip 0.2:
    #   V = 1 clipped to 0.7: max((1 - 2)^2, (0.7 - 2)^2) = 1.69          -> 0.845
    #   V = 1 within [0.7, 1.1]: (1 - 0)^2 = 1                             -> 0.5
    #   V = 2 within [1.8, 2.2]: (2 - 2.5)^2 = 0.25                         -> 0.125
    #   V = 1 clipped to 0.7: max((1 - 0)^2, (0.7 - 0)^2) = 1, the unclipped -> 0.5
    assert_close(clipped_value_loss(values, old_values, returns, 0.2), [0.845, 0.5, 0.125, 0.5])


def test_approx_kl_by_hand():
    assert_close(approx_kl(t([-1.0, -2.0]), t([-1.5, -2.0])), [0.5 * 0.5**2, 0.0])


# ---------------------------------------------------------------- aggregation

PER_TOKEN = [[1.0, 2.0, 3.0, float("nan")], [4.0, 100.0, 100.0, 100.0], [float("inf"), 100.0, 100.0, 100.0]]
LENGTHS = [3, 1, 0]


def lengths_mask(lengths, T):
    return torch.arange(T) < torch.tensor(lengths)[:, None]


@pytest.mark.parametrize(
    "mode, expected_sum, expected_n",
    [
        ("token-mean", 1 + 2 + 3 + 4, 4),
        ("seq-mean-token-mean", (1 + 2 + 3) / 3 + 4 / 1, 2),  # the empty row is not a sequence to average
        ("seq-mean-token-sum-norm", (1 + 2 + 3) / 4 + 4 / 4 + 0, 3),
    ],
)
def test_aggregate_by_hand(mode, expected_sum, expected_n):
    loss_sum, n = aggregate(t(PER_TOKEN), lengths_mask(LENGTHS, 4), mode, max_len=4)
    assert loss_sum.item() == pytest.approx(expected_sum, abs=TOL)
    assert n == expected_n and isinstance(n, int)


@pytest.mark.parametrize("mode", AGGREGATIONS)
def test_aggregate_is_the_same_however_the_batch_is_split(mode):
    per_token = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mask = lengths_mask([5, 1, 3, 0, 2, 4], 5)
    whole_sum, whole_n = aggregate(per_token, mask, mode, max_len=5)
    for cut in (1, 3, 4):  # micro-batches of unequal sizes and token counts
        sum_a, n_a = aggregate(per_token[:cut], mask[:cut], mode, max_len=5)
        sum_b, n_b = aggregate(per_token[cut:], mask[cut:], mode, max_len=5)
        assert ((sum_a + sum_b) / (n_a + n_b)).item() == pytest.approx((whole_sum / whole_n).item(), abs=TOL)


def test_aggregate_needs_max_len_for_the_sum_norm_and_a_known_mode():
    with pytest.raises(ValueError, match="max_len"):
        aggregate(t(PER_TOKEN), lengths_mask(LENGTHS, 4), "seq-mean-token-sum-norm")
    with pytest.raises(ValueError, match="seq-sum"):
        aggregate(t(PER_TOKEN), lengths_mask(LENGTHS, 4), "seq-sum")


# ---------------------------------------------------------------- KL controllers and explained variance


def test_adaptive_kl_controller_by_hand():
    kl = AdaptiveKLController(init_coef=0.2, target=6.0, horizon=10_000)
    kl.update(6.6, n_steps=100)  # err = 6.6 / 6 - 1 = 0.1: beta = 0.2 (1 + 0.1 * 100 / 10000) = 0.2002
    assert kl.value == pytest.approx(0.2002, abs=TOL)
    kl.update(6.0, n_steps=100)  # on target: unchanged
    assert kl.value == pytest.approx(0.2002, abs=TOL)
    kl.update(3.0, n_steps=1000)  # err = -0.5, clipped to -0.2: beta *= 1 - 0.2 * 1000 / 10000 = 0.98
    assert kl.value == pytest.approx(0.2002 * 0.98, abs=TOL)


def test_adaptive_kl_controller_clips_the_error():
    far, near = AdaptiveKLController(0.2, 6.0, 10_000), AdaptiveKLController(0.2, 6.0, 10_000)
    far.update(60.0, n_steps=256)  # err = 9, clipped to 0.2
    near.update(7.2, n_steps=256)  # err = 0.2
    assert far.value == pytest.approx(0.2 * (1 + 0.2 * 256 / 10_000), abs=TOL)
    assert far.value == pytest.approx(near.value, abs=TOL)
    far.update(torch.tensor(7.2), n_steps=256)  # a tensor KL works too
    assert far.value == pytest.approx(0.2 * (1 + 0.2 * 256 / 10_000) ** 2, abs=TOL)


def test_kl_controllers_save_and_load_their_coefficient():
    kl = AdaptiveKLController(0.2, 6.0, 10_000)
    kl.update(7.2, n_steps=256)
    resumed = AdaptiveKLController(0.2, 6.0, 10_000)
    resumed.load_state_dict(kl.state_dict())
    assert resumed.value == kl.value and kl.state_dict() == {"value": kl.value}
    fixed = FixedKLController(0.05)
    fixed.update(100.0, n_steps=256)
    assert fixed.value == 0.05 and fixed.state_dict() == {"value": 0.05}
    fixed.load_state_dict({"value": 0.1})
    assert fixed.value == 0.1


def test_explained_variance():
    mask = torch.tensor([[True, True, True, False]])
    returns = t([[1.0, 2.0, 3.0, 50.0]])
    assert explained_variance(returns, returns, mask).item() == pytest.approx(1.0, abs=TOL)
    # residuals 0, 0, 1: var (biased) 2/9 against the returns' 2/3 -> 1 - 1/3
    values = t([[1.0, 2.0, 2.0, -7.0]])
    assert explained_variance(values, returns, mask).item() == pytest.approx(2 / 3, abs=TOL)
    # constant returns: 1 if the values are off by a constant only, else 0, never nan
    flat = t([[2.0, 2.0, 2.0, 0.0]])
    assert explained_variance(flat + 0.5, flat, mask).item() == 1.0
    assert explained_variance(values, flat, mask).item() == 0.0
