import math

import pytest
import torch
from torch import nn

from lmlab.losses import IGNORE
from lmlab.losses.preference import (
    DPO_LOSSES,
    bradley_terry_loss,
    dpo_loss,
    log1mexp,
    orpo_loss,
    sequence_logps,
    simpo_loss,
)

# Three pairs of summed log-probs; the third has chosen == rejected under the policy.
CHOSEN = [-5.0, -12.3, -3.1]
REJECTED = [-7.2, -10.0, -3.1]
REF_CHOSEN = [-6.0, -11.0, -4.0]
REF_REJECTED = [-6.5, -10.5, -2.0]
# Three pairs of per-token mean log-probs, for the length-normalised losses.
CHOSEN_MEANS = [-0.5, -1.23, -0.31]
REJECTED_MEANS = [-0.72, -1.0, -0.31]

BETA = 0.1
EPS = 0.1  # label smoothing of cdpo and robust


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def log_sigmoid(z):
    return -math.log(1 + math.exp(-z))


def dpo_by_hand(loss_type, h, beta, eps):
    """One pair's loss, written out from the papers' equations on Python floats."""
    if loss_type == "sigmoid":
        return -log_sigmoid(beta * h)
    if loss_type == "cdpo":
        return -(1 - eps) * log_sigmoid(beta * h) - eps * log_sigmoid(-beta * h)
    if loss_type == "robust":
        return (-(1 - eps) * log_sigmoid(beta * h) + eps * log_sigmoid(-beta * h)) / (1 - 2 * eps)
    if loss_type == "hinge":
        return max(0.0, 1 - beta * h)
    return (h - 1 / (2 * beta)) ** 2  # ipo, ipo_norm


def smoothing(loss_type):
    return EPS if loss_type in ("cdpo", "robust") else 0.0


def assert_metrics(metrics, expected):
    assert set(metrics) == set(expected)
    for name, value in expected.items():
        assert metrics[name].item() == pytest.approx(value, abs=1e-6), name


def reward_metrics_by_hand(chosen_rewards, rejected_rewards, chosen, rejected):
    return {
        "rewards/chosen": sum(chosen_rewards),
        "rewards/rejected": sum(rejected_rewards),
        "rewards/accuracies": sum(float(c > r) for c, r in zip(chosen_rewards, rejected_rewards)),
        "rewards/margins": sum(c - r for c, r in zip(chosen_rewards, rejected_rewards)),
        "logps/chosen": sum(chosen),
        "logps/rejected": sum(rejected),
    }


@pytest.mark.parametrize(
    "loss_type, expected",
    [
        ("sigmoid", math.log(2)),
        ("cdpo", math.log(2)),
        ("robust", math.log(2)),
        ("hinge", 1.0),
        ("ipo", (1 / (2 * BETA)) ** 2),
        ("ipo_norm", (1 / (2 * BETA)) ** 2),
    ],
)
def test_dpo_at_step_zero_policy_equal_to_reference_gives_known_loss_and_zero_rewards(loss_type, expected):
    chosen, rejected = -20 * torch.rand(4, dtype=torch.float64), -20 * torch.rand(4, dtype=torch.float64)
    loss = dpo_loss(chosen, rejected, chosen.clone(), rejected.clone(), BETA, loss_type, smoothing(loss_type))
    assert loss.n == 4
    assert loss.sum.item() / loss.n == pytest.approx(expected, abs=1e-6)
    for name in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert loss.metrics[name].item() == 0.0


def test_dpo_losses_names_exactly_the_variants_checked_by_hand_here():
    assert DPO_LOSSES == ("sigmoid", "cdpo", "robust", "hinge", "ipo", "ipo_norm")


@pytest.mark.parametrize("loss_type", DPO_LOSSES)
def test_dpo_matches_hand_computed_loss_and_metrics(loss_type):
    eps = smoothing(loss_type)
    loss = dpo_loss(t(CHOSEN), t(REJECTED), t(REF_CHOSEN), t(REF_REJECTED), BETA, loss_type, eps)

    pairs = list(zip(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED))
    logratios = [(c - r) - (rc - rr) for c, r, rc, rr in pairs]
    assert loss.n == 3
    assert loss.sum.item() == pytest.approx(sum(dpo_by_hand(loss_type, h, BETA, eps) for h in logratios), abs=1e-6)
    chosen_rewards = [BETA * (c - rc) for c, rc in zip(CHOSEN, REF_CHOSEN)]
    rejected_rewards = [BETA * (r - rr) for r, rr in zip(REJECTED, REF_REJECTED)]
    assert_metrics(loss.metrics, reward_metrics_by_hand(chosen_rewards, rejected_rewards, CHOSEN, REJECTED))


def test_hinge_is_zero_beyond_the_margin():
    # beta h = 0.5 * 3 >= 1: the pair is separated enough and contributes nothing.
    loss = dpo_loss(t([-1.0]), t([-4.0]), t([-2.0]), t([-2.0]), beta=0.5, loss_type="hinge")
    assert loss.sum.item() == 0.0


def test_simpo_matches_hand_computed_loss_and_metrics():
    beta, gamma = 2.0, 0.5
    loss = simpo_loss(t(CHOSEN_MEANS), t(REJECTED_MEANS), beta, gamma)

    expected = sum(-log_sigmoid(beta * (c - r) - gamma) for c, r in zip(CHOSEN_MEANS, REJECTED_MEANS))
    assert loss.n == 3
    assert loss.sum.item() == pytest.approx(expected, abs=1e-6)
    chosen_rewards, rejected_rewards = [beta * c for c in CHOSEN_MEANS], [beta * r for r in REJECTED_MEANS]
    assert_metrics(loss.metrics, reward_metrics_by_hand(chosen_rewards, rejected_rewards, CHOSEN_MEANS, REJECTED_MEANS))


def test_orpo_matches_hand_computed_loss_and_metrics():
    lam = 0.1
    chosen_nll = [0.6, 1.1, 0.4]  # not -CHOSEN_MEANS, to show the SFT term is taken as given
    loss = orpo_loss(t(CHOSEN_MEANS), t(REJECTED_MEANS), t(chosen_nll), lam)

    def log_odds(logp):
        return logp - math.log(1 - math.exp(logp))

    log_odds_ratios = [log_odds(c) - log_odds(r) for c, r in zip(CHOSEN_MEANS, REJECTED_MEANS)]
    expected = sum(nll - lam * log_sigmoid(z) for nll, z in zip(chosen_nll, log_odds_ratios))
    assert loss.n == 3
    assert loss.sum.item() == pytest.approx(expected, abs=1e-6)
    chosen_rewards, rejected_rewards = [lam * c for c in CHOSEN_MEANS], [lam * r for r in REJECTED_MEANS]
    metrics = reward_metrics_by_hand(chosen_rewards, rejected_rewards, CHOSEN_MEANS, REJECTED_MEANS)
    metrics["nll_loss"] = sum(chosen_nll)
    metrics["log_odds_ratio"] = sum(log_sigmoid(z) for z in log_odds_ratios)
    metrics["log_odds_chosen"] = sum(log_odds_ratios)
    assert_metrics(loss.metrics, metrics)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_orpo_stays_finite_for_log_probs_at_and_near_zero(dtype):
    logps = [0.0, -1e-9, -1e-3, -50.0]
    chosen = torch.tensor(logps, dtype=dtype, requires_grad=True)
    rejected = torch.tensor(logps[::-1], dtype=dtype, requires_grad=True)
    loss = orpo_loss(chosen, rejected, -chosen, lam=0.1)
    loss.sum.backward()
    assert torch.isfinite(loss.sum)
    assert torch.isfinite(chosen.grad).all() and torch.isfinite(rejected.grad).all()
    assert all(torch.isfinite(value) for value in loss.metrics.values())


def test_log1mexp_matches_math_across_both_branches():
    xs = [-1e-3, -0.1, -0.5, -math.log(2) + 1e-9, -math.log(2) - 1e-9, -1.0, -5.0, -30.0, -700.0]
    got = log1mexp(t(xs))
    expected = t([math.log(1 - math.exp(x)) for x in xs])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def test_log1mexp_is_accurate_where_one_minus_exp_cancels():
    # log(1 - exp(-1e-12)) = log(1e-12 - 5e-25 + ...): the naive form loses all but ~4 digits here.
    assert log1mexp(t([-1e-12])).item() == pytest.approx(math.log(1e-12), abs=1e-10)


@pytest.mark.parametrize("margin", [None, [1.0, 0.0, 2.0]])
@pytest.mark.parametrize("center_coef", [0.0, 0.01])
def test_bradley_terry_matches_hand_computed_loss_and_metrics(margin, center_coef):
    chosen, rejected = [1.5, -0.2, 0.3], [0.5, 0.4, 0.3]
    m = margin or [0.0, 0.0, 0.0]
    loss = bradley_terry_loss(t(chosen), t(rejected), None if margin is None else t(margin), center_coef)

    expected = sum(-log_sigmoid(c - r - mi) + center_coef * (c + r) ** 2 for c, r, mi in zip(chosen, rejected, m))
    assert loss.n == 3
    assert loss.sum.item() == pytest.approx(expected, abs=1e-6)
    assert_metrics(
        loss.metrics,
        {
            "accuracy": 1.0,
            "margin": sum(c - r for c, r in zip(chosen, rejected)),
            "rewards/chosen": sum(chosen),
            "rewards/rejected": sum(rejected),
        },
    )


def test_losses_compute_in_float32_from_bf16_and_keep_float64():
    bf16 = torch.tensor(CHOSEN, dtype=torch.bfloat16)
    assert dpo_loss(bf16, bf16, bf16, bf16, BETA).sum.dtype == torch.float32
    assert simpo_loss(bf16, bf16, 2.0, 0.5).sum.dtype == torch.float32
    assert orpo_loss(bf16 / 10, bf16 / 10, -bf16 / 10, 0.1).sum.dtype == torch.float32
    assert bradley_terry_loss(bf16, bf16).sum.dtype == torch.float32
    assert dpo_loss(t(CHOSEN), t(REJECTED), t(REF_CHOSEN), t(REF_REJECTED), BETA).sum.dtype == torch.float64


def test_metrics_are_detached_scalars():
    chosen = t(CHOSEN_MEANS).requires_grad_()
    rejected = t(REJECTED_MEANS).requires_grad_()
    losses = [
        dpo_loss(chosen, rejected, t(REF_CHOSEN), t(REF_REJECTED), BETA),
        simpo_loss(chosen, rejected, 2.0, 0.5),
        orpo_loss(chosen, rejected, -chosen, 0.1),
        bradley_terry_loss(chosen, rejected, t([1.0, 0.0, 2.0]), 0.01),
    ]
    for loss in losses:
        assert loss.sum.requires_grad and loss.sum.dim() == 0
        for name, value in loss.metrics.items():
            assert not value.requires_grad and value.dim() == 0, name


def test_sequence_logps_sums_log_probs_over_response_tokens_and_counts_them():
    logits = torch.randn(3, 5, 7, dtype=torch.float64)
    targets = torch.tensor([[IGNORE, IGNORE, 3, 1, 6], [IGNORE, 2, 0, IGNORE, IGNORE], [IGNORE] * 5])
    logps, counts = sequence_logps(logits, targets)

    response = targets != IGNORE
    token_logps = logits.log_softmax(-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T)
    torch.testing.assert_close(logps, (token_logps * response).sum(-1))
    assert counts.tolist() == [3.0, 2.0, 0.0]
    assert counts.dtype == logps.dtype == torch.float64
    assert logps[2].item() == 0.0


# Gradient checks: a tiny float64 model scores 2 pairs of token sequences; autograd must match central differences.
V, C, T = 11, 6, 6
# Rows 0-1 are the chosen responses of pairs 0-1, rows 2-3 the rejected; the prompt is the first two positions and
# responses have different lengths, so sums and per-token means differ.
TOKENS = torch.tensor([[1, 4, 2, 7, 3, 9], [5, 0, 8, 8, 2, 1], [1, 4, 6, 10, 0, 0], [5, 0, 3, 3, 3, 7]])
RESPONSE = torch.tensor([[0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1]], dtype=bool)
# Reference log-ratios of +5 put h well below 0: every loss is away from saturation and from the hinge's kink.
REF_CHOSEN_CONST, REF_REJECTED_CONST = [-10.0, -9.0], [-15.0, -14.0]


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(V, C), nn.Linear(C, V)).double()


def pair_logps(model):
    """(chosen logps, rejected logps, chosen counts, rejected counts), each (2,)."""
    inputs, next_tokens = TOKENS[:, :-1], TOKENS[:, 1:]
    targets = next_tokens.masked_fill(~RESPONSE[:, 1:], IGNORE)
    logps, counts = sequence_logps(model(inputs), targets)  # (4,), (4,)
    return logps[:2], logps[2:], counts[:2], counts[2:]


def dpo_of(loss_type):
    def loss_of(model):
        chosen, rejected, chosen_counts, rejected_counts = pair_logps(model)
        if loss_type == "ipo_norm":
            chosen, rejected = chosen / chosen_counts, rejected / rejected_counts
        ref_chosen, ref_rejected = t(REF_CHOSEN_CONST), t(REF_REJECTED_CONST)
        return dpo_loss(chosen, rejected, ref_chosen, ref_rejected, 0.5, loss_type, smoothing(loss_type)).sum

    return loss_of


def simpo_of(model):
    chosen, rejected, chosen_counts, rejected_counts = pair_logps(model)
    return simpo_loss(chosen / chosen_counts, rejected / rejected_counts, beta=2.0, gamma=0.5).sum


def orpo_of(model):
    chosen, rejected, chosen_counts, rejected_counts = pair_logps(model)
    chosen_means = chosen / chosen_counts
    return orpo_loss(chosen_means, rejected / rejected_counts, -chosen_means, lam=0.5).sum


@pytest.mark.parametrize(
    "loss_of",
    [dpo_of(loss_type) for loss_type in DPO_LOSSES] + [simpo_of, orpo_of],
    ids=list(DPO_LOSSES) + ["simpo", "orpo"],
)
def test_gradient_through_sequence_logps_matches_finite_differences(loss_of):
    model = tiny_model()
    embedding, linear = model[0].weight, model[1].weight
    loss_of(model).backward()
    # Embeddings of tokens that predict response targets, and output weights of several classes.
    entries = [(embedding, (2, 0)), (embedding, (4, 3)), (embedding, (8, 5)), (linear, (2, 1)), (linear, (7, 4))]
    entries += [(linear, (3, 0)), (model[1].bias, (9,))]
    eps = 1e-6
    for param, index in entries:
        with torch.no_grad():
            original = param[index].item()
            param[index] = original + eps
            plus = loss_of(model).item()
            param[index] = original - eps
            minus = loss_of(model).item()
            param[index] = original
        numeric = (plus - minus) / (2 * eps)
        analytic = param.grad[index].item()
        assert abs(analytic) > 1e-6, f"{index}: a zero gradient proves nothing"
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9), index


@pytest.mark.parametrize("loss_type", ["dpo", "kto", ""])
def test_dpo_rejects_unknown_loss_type_and_names_the_valid_ones(loss_type):
    with pytest.raises(ValueError, match="sigmoid, cdpo, robust, hinge, ipo, ipo_norm"):
        dpo_loss(t(CHOSEN), t(REJECTED), t(REF_CHOSEN), t(REF_REJECTED), BETA, loss_type)


@pytest.mark.parametrize(
    "loss_type, label_smoothing",
    [("cdpo", 0.0), ("cdpo", 0.5), ("cdpo", -0.1), ("robust", 0.5), ("robust", -0.1), ("sigmoid", 0.1)],
)
def test_dpo_rejects_label_smoothing_out_of_range_or_unused(loss_type, label_smoothing):
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(t(CHOSEN), t(REJECTED), t(REF_CHOSEN), t(REF_REJECTED), BETA, loss_type, label_smoothing)


def test_packed_sequence_logps_equals_sequence_logps_on_the_full_logits():
    """DPO runs the output head only at response targets (and a few ignored positions); the result is the same."""
    from lmlab.data.batching import head_mask
    from lmlab.losses.preference import packed_sequence_logps

    torch.manual_seed(3)
    logits = torch.randn(4, 7, 11, dtype=torch.float64)
    targets = torch.randint(0, 11, (4, 7))
    targets[0, :3] = IGNORE  # a prompt
    targets[1, 4:] = IGNORE  # padding: 4 + 4 + 7 = 15 targets, bucketed to 16
    targets[3] = IGNORE  # no response at all
    head = head_mask(targets, IGNORE)
    assert int(head.sum()) > int((targets != IGNORE).sum())  # spare positions were added
    packed = packed_sequence_logps(logits[head], targets[head], head.nonzero()[:, 0], 4)
    full = sequence_logps(logits, targets)
    assert torch.allclose(packed[0], full[0], atol=1e-12) and torch.equal(packed[1], full[1])
