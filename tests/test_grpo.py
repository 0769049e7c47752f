"""GRPO, RLOO, Dr. GRPO and DAPO as a stage: real runs of `lmlab grpo` on conftest's tiny sentiment policy."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lmlab import cli
from lmlab.config import TrainConfig
from lmlab.runs import load_run
from lmlab.stages.grpo import GRPO_LOSSES, GRPOConfig, GRPOSection, grpo, make_loss
from lmlab.stages.rollouts import response_logps
from lmlab.trainer import Trainer

FP32 = dict(dtype="float32", progress=False)
SMALL = dict(reward="sentiment", max_new_tokens=8, prompts=256, temperature=1.0, **FP32)  # with the preset tiny


def logged(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def untimed(record: dict) -> dict:
    return {k: v for k, v in record.items() if not (k.endswith("per_s") or k in ("mfu", "time/rollout_share"))}


def test_grpo_raises_the_true_reward_of_a_tiny_model(sentiment_policy, tmp_path):
    run = grpo(GRPOConfig.build("tiny"), init=sentiment_policy, out=tmp_path / "g",
               overrides={**SMALL, "max_iters": 30, "batch_size": 32, "group_size": 8, "lr": 3e-3})  # fmt: skip
    records = logged(run)
    first, last = records[0]["objective/scores"], np.mean([r["objective/scores"] for r in records[-5:]])
    assert last > first + 0.2, (first, last)
    assert records[0]["val/ratio"] == 1.0 and records[0]["policy/clipfrac_avg"] == 0.0
    assert (4 * records[0]["rollout/zero_spread_groups"]).is_integer()  # a share of the rollout's 4 groups of 8


def rollout_rows(model, n: int = 16) -> dict:
    """n rollout rows of random tokens with responses of 1 to 8 tokens, old log-probs near the model's (so some
    ratios leave the clip range), reference log-probs and advantages."""
    g = torch.Generator().manual_seed(0)
    P, R = 5, 8
    lengths = 1 + torch.arange(n) % R
    batch = {
        "tokens": torch.randint(0, model.config.vocab_size, (n, P + R + 1), generator=g),
        "prompt_lengths": torch.full((n,), P),
        "mask": torch.arange(R) < lengths[:, None],
    }
    with torch.no_grad():
        logps = response_logps(model, batch)["logps"]
    noise = 0.3 * torch.randn(n, R, generator=g)
    batch.update(old_logps=logps + noise, ref_logps=logps - noise, advantages=torch.randn(n, generator=g))
    return batch


@pytest.mark.parametrize("loss", list(GRPO_LOSSES))
def test_one_batch_of_16_rows_gives_the_gradient_of_4_accumulated_batches_of_4(sentiment_policy, loss):
    """Each aggregation is a sum and a count of whole tokens or sequences, so accumulating micro-batches of unequal
    token counts gives the loss and gradient of one batch, up to fp32 rounding."""
    section = GRPOSection(loss=loss, kl_coef=0.1, max_new_tokens=8, temperature=1.0)
    batch = rollout_rows(load_run(sentiment_policy).model)
    grads, losses = [], []
    for accum in (1, 4):
        model = load_run(sentiment_policy).model.train()
        size = 16 // accum
        cfg = TrainConfig(grad_accum=accum, batch_size=size, grad_clip=0.0, dtype="float32", progress=False)
        rows = lambda i: {k: v[i * size : (i + 1) * size] for k, v in batch.items()}  # noqa: E731
        trainer = Trainer(model, cfg, None, rows, make_loss(section))
        trainer.optimizer.step = lambda: grads.append([p.grad.clone() for p in model.parameters()])
        losses.append(trainer.train_step(model)[0])
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)
    assert any(g.abs().max() > 1e-3 for g in grads[0])
    # A mean per micro-batch instead of the sum/count split changes them by ~10% or more.
    assert all(torch.allclose(x, y, rtol=1e-4, atol=1e-7) for x, y in zip(*grads))


def test_grpo_resumed_in_the_middle_of_a_rollout_ends_bitwise_like_the_uninterrupted_run(sentiment_policy, tmp_path):
    cfg = {**SMALL, "epochs": 2, "num_minibatches": 2, "max_iters": 6, "lr_decay_iters": 8, "eval_interval": 6,
           "log_interval": 1, "lr": 3e-3, "kl_coef": 0.05}  # fmt: skip
    stopped = grpo(GRPOConfig.build("tiny"), init=sentiment_policy, out=tmp_path / "a", overrides=cfg)
    grpo(resume=stopped, overrides={"max_iters": 8})
    straight = grpo(GRPOConfig.build("tiny"), init=sentiment_policy, out=tmp_path / "b",
                    overrides={**cfg, "max_iters": 8})  # fmt: skip
    a, b = load_file(stopped / "model.safetensors"), load_file(straight / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    records = [[untimed(r) for r in logged(run)] for run in (stopped, straight)]
    assert records[0] == records[1] and len(records[1]) == 8


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--group-size", "1"], "group_size must be >= 2"),
        (["--group-size", "3"], "batch_size (8) must be a multiple of group_size (3)"),
        (["--reward", "accuracy"], "expected a reward-model run folder, or a judge: sentiment | tasks"),
        (["--loss", "ppo"], "loss must be one of grpo"),
    ],
)
def test_bad_settings_are_one_line_errors_with_exit_code_2_and_no_folder(sentiment_policy, tmp_path, capsys, flags,
                                                                          message):  # fmt: skip
    out = tmp_path / "out"
    args = ["grpo", "--init", str(sentiment_policy), "--out", str(out), "--preset", "tiny", "--no-progress", *flags]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lmlab: error: ") and message in err[0], err
    assert not out.exists()


def test_at_a_temperature_the_log_probs_are_those_of_the_tempered_policy(sentiment_policy, tmp_path):
    """Ratios and KL score softmax(logits / T), the distribution sampled: ratio 1 and KL 0 before the first update,
    and an entropy below the untempered one's at T = 0.5."""
    entropies = []
    for temperature in (1.0, 0.5):
        run = grpo(GRPOConfig.build("tiny"), init=sentiment_policy, out=tmp_path / f"t{temperature}",
                   overrides={**SMALL, "max_iters": 1, "temperature": temperature})  # fmt: skip
        (first,) = logged(run)
        assert first["val/ratio"] == 1.0 and first["objective/kl"] == 0.0
        entropies.append(first["objective/entropy"])
    assert entropies[1] < 0.8 * entropies[0]
