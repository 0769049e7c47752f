import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from lmlab.config import TrainConfig
from lmlab.losses import Loss
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.runs import RunFolder
from lmlab.stages.pretrain import PretrainConfig, next_token_loss, pretrain
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
    config = tiny_config(
        text_file, max_iters=10**9, max_seconds=1.5, lr_decay_iters=0, eval_interval=10**9, log_interval=1
    )
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


def logged(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_weights(run_a, run_b):
    a, b = load_file(run_a / "model.safetensors"), load_file(run_b / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]


# bf16 autocast on the CPU is deterministic, and the checkpoint holds what the step reads (fp32 weights, fp32
# AdamW moments or Muon momenta, the RNG): resuming under bf16 is bitwise exact too, weights and losses, like fp32.
@pytest.mark.parametrize("dtype, optimizer", [("float32", "adamw"), ("bfloat16", "adamw"), ("float32", "muon")])
def test_resume_is_bitwise_exact(text_file, tmp_path, dtype, optimizer):
    """N steps, stop, resume N more == 2N steps uninterrupted (CPU, with dropout), in fp32 and under bf16 autocast,
    with AdamW and with Muon beside AdamW."""
    stopped = pretrain(tiny_config(text_file, max_iters=8, dtype=dtype, optimizer=optimizer), out=tmp_path / "a")
    pretrain(PretrainConfig(), resume=stopped, overrides={"max_iters": 16})
    straight = pretrain(tiny_config(text_file, max_iters=16, dtype=dtype, optimizer=optimizer), out=tmp_path / "b")
    assert_same_weights(stopped, straight)
    # The metric log continues where it stopped, no duplicates.
    assert [r["loss"] for r in logged(stopped)] == [r["loss"] for r in logged(straight)]


def test_ctrl_c_stops_after_the_current_step_and_resume_finishes_bitwise_like_an_uninterrupted_run(text_file, tmp_path):
    """SIGINT through the real signal path: the run saves its last finished step (not a checkpoint step, there are
    none before N) and exits 0; --resume then ends with the weights and metric log of N steps straight."""
    N = 2000  # ~2 ms steps: the run is still going when the signal comes a few steps in
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    lmlab = [sys.executable, "-m", "lmlab", "pretrain"]
    flags = ["--preset", "tiny", "--data", str(text_file), "--n-layer", "1", "--n-head", "1", "--n-embd", "16",
             "--block-size", "8", "--batch-size", "2", "--log-interval", "1", "--eval-interval", "100000",
             "--lr-decay-iters", str(N), "--max-iters", str(N), "--dtype", "float32", "--dropout", "0.1",
             "--no-progress"]  # fmt: skip
    run, straight, stderr = tmp_path / "interrupted", tmp_path / "straight", tmp_path / "stderr"
    with open(stderr, "w") as err:
        interrupted = subprocess.Popen(lmlab + flags + ["--out", str(run)], env=env, stdout=err, stderr=err)
        try:
            deadline = time.monotonic() + 120
            while not ((run / "metrics.jsonl").is_file() and len(logged(run)) >= 3):
                if interrupted.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the run ended or stalled before logging 3 steps:\n{stderr.read_text()}")
                time.sleep(0.01)
            interrupted.send_signal(signal.SIGINT)
            assert interrupted.wait(timeout=120) == 0, stderr.read_text()
        finally:
            if interrupted.poll() is None:
                interrupted.kill()
    stopped = logged(run)[-1]["step"]
    if stopped == N:
        pytest.fail(f"the run finished all {N} steps before SIGINT arrived, so nothing was interrupted; raise N")
    assert 3 <= stopped < N
    assert (run / "ckpt" / "LATEST").read_text() == f"step-{stopped:07d}"  # the interrupt's save, not an eval's
    # The uninterrupted run and the resumption run side by side, one core each.
    with open(stderr, "w") as err:
        reference = subprocess.Popen(lmlab + flags + ["--out", str(straight)], env=env, stdout=err, stderr=err)
        resumed = subprocess.run(lmlab + ["--resume", str(run), "--max-iters", str(N), "--no-progress"], env=env,
                                 capture_output=True, text=True)  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert reference.wait(timeout=300) == 0, stderr.read_text()[-3000:]
    assert [r["step"] for r in logged(run)] == list(range(1, N + 1))  # no step twice, none missing
    assert [r["loss"] for r in logged(run)] == [r["loss"] for r in logged(straight)]
    assert_same_weights(run, straight)


def test_extra_loss_metrics_are_logged_as_their_mean_over_the_steps_terms(tmp_path):
    """Micro-batch 0 has 3 targets and micro-batch 1 has 1; the metric is each target's id, summed over the
    targets. Ids 1, 1, 1 and 5 must log (1 + 1 + 1 + 5) / 4 = 2, not the mean of the micro-batch means
    (1 + 5) / 2 = 3."""
    targets = [torch.tensor([[1, 1, 1, -100]]), torch.tensor([[-100, -100, 5, -100]])]

    def batch_fn(index):
        return {"inputs": torch.zeros(1, 4, dtype=torch.long), "targets": targets[index % 2]}

    def loss_fn(model, batch):
        loss, n, _ = next_token_loss(model, batch)
        y = batch["targets"]
        return Loss(loss, n, {"my_metric": y[y != -100].sum().float()})

    cfg = TrainConfig(max_iters=2, grad_accum=2, warmup_iters=1, log_interval=1, dtype="float32", progress=False)
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=1, n_head=1, n_embd=8, block_size=4, vocab_size=8))
    Trainer(model, cfg, run, batch_fn, loss_fn).fit()
    assert [(r["step"], r["my_metric"]) for r in logged(run.path)] == [(1, 2.0), (2, 2.0)]


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
    assert [e.step for e in events.Scalars("loss")] == [1, 5, 8, 10]  # step 1, every log step and every eval step
    assert [e.step for e in events.Scalars("val_loss")] == [8, 10]


def test_compile_without_a_cpp_compiler_trains_eagerly_and_says_so(monkeypatch, capsys):
    """torch.compile builds C++ kernels on the CPU; where no compiler is installed --compile (the cpu-small default)
    must not stop the run: it trains eagerly, with one line on stderr saying why."""
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("torch.compile was called"))
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=32))
    x = torch.randint(0, 32, (2, 9))
    cfg = TrainConfig(max_iters=3, batch_size=2, compile=True, eval_interval=100, progress=False, dtype="float32")
    batches = lambda i: {"inputs": x[:, :-1], "targets": x[:, 1:]}  # noqa: E731
    result = Trainer(model, cfg, None, batches, next_token_loss).fit()
    assert result.step == 3
    assert "--compile skipped: no C++ compiler" in capsys.readouterr().err
