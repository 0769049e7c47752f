import json

import pytest
import torch
from safetensors.torch import load_file

from lmlab.config import TrainConfig
from lmlab.stages.pretrain import PretrainConfig, next_token_loss, pretrain
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.trainer import Trainer, lr_at


def tiny_config(text_file, **overrides):
    base = dict(data=str(text_file), dtype="float32", progress=False, dropout=0.1, lr_decay_iters=16, eval_interval=8)
    base.update(overrides)
    return PretrainConfig.build("tiny", overrides=base)


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_min_lr():
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_iters=10, max_iters=110)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55)  # half way through the decay: the midpoint
    assert lr_at(110, cfg) == pytest.approx(0.1)


def test_time_budget_decays_the_schedule_by_the_clock():
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_iters=10, max_iters=10**9, max_seconds=60)
    assert lr_at(5, cfg, time_fraction=0.5) == pytest.approx(0.6)  # warm-up still counts steps
    assert lr_at(20, cfg, time_fraction=0.5) == pytest.approx(0.55)  # half the budget spent: the midpoint
    assert lr_at(20, cfg, time_fraction=1.0) == pytest.approx(0.1)


def test_max_seconds_stops_training_on_time_and_ends_at_min_lr(text_file, tmp_path):
    """A 1.5-second budget with an unreachable step limit: the run stops by the clock, evaluates,
    saves, and its last step ran within 5% of min_lr; resuming it does no further steps."""
    config = tiny_config(text_file, max_iters=10**9, max_seconds=1.5, lr_decay_iters=0, eval_interval=10**9, log_interval=1)
    run = pretrain(config, out=tmp_path / "t")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert 3 < records[-1]["step"] < 10**6
    assert "val_loss" in records[-1]
    lr, min_lr = config.train.lr, config.train.min_lr
    assert records[-1]["lr"] < min_lr + 0.05 * (lr - min_lr)  # the cosine ran its course by the clock
    assert records[len(records) // 2]["lr"] > min_lr + 0.2 * (lr - min_lr)
    steps = records[-1]["step"]
    pretrain(PretrainConfig(), resume=run)
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == steps


def test_resume_is_bitwise_exact(text_file, tmp_path):
    """N steps, stop, resume N more == 2N steps uninterrupted (CPU, fp32, with dropout)."""
    stopped = pretrain(tiny_config(text_file, max_iters=8), out=tmp_path / "a")
    pretrain(PretrainConfig(), resume=stopped, overrides={"max_iters": 16})
    straight = pretrain(tiny_config(text_file, max_iters=16), out=tmp_path / "b")
    a, b = load_file(stopped / "model.safetensors"), load_file(straight / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = lambda run: [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert losses(stopped) == losses(straight)  # the metric log continues where it stopped, no duplicates


def test_gradient_accumulation_matches_one_big_batch():
    """Loss is normalised per target over all micro-batches: 1 x 8 rows == 2 x 4 rows, even with masked targets."""
    torch.manual_seed(0)
    x = torch.randint(0, 50, (8, 16))
    y = torch.randint(0, 50, (8, 16))
    y[:3, :10] = -100  # unequal target counts per micro-batch
    cfg = dict(max_iters=3, lr=1e-2, warmup_iters=1, dtype="float32", progress=False, eval_interval=100, log_interval=1)
    weights = []
    for accum in (1, 2):
        torch.manual_seed(1)
        model = GPT(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=16, vocab_size=50))
        rows = 8 // accum

        def batch_fn(index, rows=rows, accum=accum):
            k = index % accum
            return {"inputs": x[k * rows : (k + 1) * rows], "targets": y[k * rows : (k + 1) * rows]}

        Trainer(model, TrainConfig(grad_accum=accum, **cfg), None, batch_fn, next_token_loss).fit()
        weights.append(model.state_dict())
    # Adam turns float rounding in near-zero gradients into ~1e-6 weight noise; a wrong
    # normalisation (mean of micro-batch means) moves weights by ~1e-3 here.
    assert all(torch.allclose(weights[0][k], weights[1][k], atol=2e-5) for k in weights[0])


def test_interrupt_keeps_last_checkpoint_loadable(text_file, tmp_path):
    run = pretrain(tiny_config(text_file, max_iters=8), out=tmp_path / "r")
    # A crash during a later save leaves a temporary folder; LATEST still names the good one.
    (run / "ckpt" / ".step-0000016.tmp999").mkdir()
    (run / "ckpt" / ".step-0000016.tmp999" / "model.safetensors").write_bytes(b"partial")
    pretrain(PretrainConfig(), resume=run, overrides={"max_iters": 10})
    assert (run / "ckpt" / "LATEST").read_text() == "step-0000010"


def test_metrics_also_go_to_tensorboard_when_installed(text_file, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = pretrain(tiny_config(text_file, max_iters=10, log_interval=5), out=tmp_path / "tb")
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("loss")] == [5, 8, 10]  # every log step and every eval step
    assert [e.step for e in events.Scalars("val_loss")] == [8, 10]
