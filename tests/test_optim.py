"""Muon beside AdamW (lmlab.optim): which parameters each trains, one schedule for both, checkpoints, and a run
that learns. Exact resume with Muon is tests/test_trainer.py::test_resume_is_bitwise_exact."""

import copy

import pytest
import torch
from test_runs import one_line_error
from test_trainer import logged, tiny_config

from lmlab.config import TrainConfig
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.models.reward import PolicyWithCritic
from lmlab.models.rnn import RecurrentLM
from lmlab.optim import MuonWithAdamW, hidden_matrices, make_optimizer
from lmlab.stages.pretrain import next_token_loss, pretrain
from lmlab.trainer import Trainer, lr_at

CPU = torch.device("cpu")
LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
BLOCK_MATRICES = {f"h.{i}.{linear}.weight" for i in range(2) for linear in LINEARS}  # small_gpt's 2 blocks


def small_gpt(**fields) -> GPT:
    return GPT(ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=20, **fields))


def names_of(model, groups) -> set[str]:
    name = {id(p): n for n, p in model.named_parameters()}
    return {name[id(p)] for group in groups for p in group["params"]}


@pytest.mark.parametrize("tie", [True, False])
def test_muon_trains_exactly_the_blocks_matrices_of_a_gpt_and_adamw_the_rest(tie):
    model = small_gpt(tie_embeddings=tie)
    optimizer = make_optimizer(model, TrainConfig(optimizer="muon"), CPU)
    assert names_of(model, optimizer.muon.param_groups) == BLOCK_MATRICES
    decayed, not_decayed = optimizer.adamw.param_groups
    assert names_of(model, [decayed]) == {"wte.weight", "wpe.weight"} | (set() if tie else {"lm_head.weight"})
    assert names_of(model, [not_decayed]) == {n for n, p in model.named_parameters() if p.dim() == 1}
    assert (decayed["weight_decay"], not_decayed["weight_decay"]) == (0.1, 0.0)
    assert optimizer.muon.param_groups[0]["weight_decay"] == 0.1


@pytest.mark.parametrize("hidden_size", [16, 24])  # 16 == n_embd: the head is tied to the embedding
def test_a_recurrent_lm_trains_its_recurrence_matrices_with_muon_and_its_embedding_and_head_with_adamw(hidden_size):
    model = RecurrentLM(ModelConfig(arch="gru", n_layer=2, n_embd=16, hidden_size=hidden_size, vocab_size=20))
    optimizer = make_optimizer(model, TrainConfig(optimizer="muon"), CPU)
    recurrence = {f"rnn.weight_{kind}_l{i}" for kind in ("ih", "hh") for i in range(2)}
    assert names_of(model, optimizer.muon.param_groups) == recurrence
    assert names_of(model, optimizer.adamw.param_groups) == {n for n, _ in model.named_parameters()} - recurrence


def test_scalar_heads_and_the_output_head_stay_on_adamw():
    model = PolicyWithCritic(ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=20), None)
    assert set(hidden_matrices(model)) == BLOCK_MATRICES  # not value_head.weight (1, C), not lm_head


def test_the_default_optimizer_is_torchs_fused_adamw_with_its_plain_state_dict():
    optimizer = make_optimizer(small_gpt(), TrainConfig(), CPU)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"]
    assert set(optimizer.state_dict()) == {"state", "param_groups"}


def test_the_schedule_scales_muons_lr_and_adamws_by_the_same_factor():
    """Warmup (steps 0, 1), cosine decay (2-5) and min_lr (6, 7): every group's lr is the same fraction of its
    peak; AdamW's groups get exactly the lr they got before Muon existed."""
    cfg = TrainConfig(optimizer="muon", lr=1e-3, muon_lr=4e-3, min_lr=1e-4, warmup_iters=2, lr_decay_iters=6,
                      max_iters=8, dtype="float32", progress=False)  # fmt: skip
    x = torch.randint(0, 20, (2, 8))
    trainer = Trainer(small_gpt(), cfg, None, lambda index: {"inputs": x, "targets": x}, next_token_loss)
    groups = trainer.optimizer.param_groups
    assert [group["lr"] for group in groups] == [1e-3, 1e-3, 4e-3]  # AdamW decayed, not decayed; Muon
    for step in range(8):
        trainer.train_step(trainer.model)
        factor = lr_at(step, cfg) / cfg.lr
        assert [group["lr"] for group in groups[:2]] == [lr_at(step, cfg)] * 2
        assert groups[2]["lr"] == pytest.approx(4e-3 * factor, rel=1e-12)
    assert groups[2]["lr"] == pytest.approx(4e-4, rel=1e-12)  # min_lr scaled by the same 4x
    # The time budget's decay (max_seconds) too.
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_iters=10, max_iters=10**9, max_seconds=60)
    for step, time_fraction in [(5, 0.5), (20, 0.5), (20, 1.0)]:
        assert lr_at(step, cfg, time_fraction, peak=4.0) == pytest.approx(4 * lr_at(step, cfg, time_fraction))


def train_steps(model, optimizer, steps: int):
    x = torch.randint(0, 20, (2, 8), generator=torch.Generator().manual_seed(0))
    for _ in range(steps):
        loss = next_token_loss(model, {"inputs": x, "targets": x})
        (loss.sum / loss.n).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def test_the_state_dict_round_trips_through_torch_save_with_weights_only(tmp_path):
    """Muon's momenta and AdamW's moments come back from a weights_only load, and training continues bitwise."""
    cfg = TrainConfig(optimizer="muon")
    model = small_gpt()
    optimizer = make_optimizer(model, cfg, CPU)
    train_steps(model, optimizer, 2)
    torch.save(optimizer.state_dict(), tmp_path / "optimizer.pt")
    loaded = torch.load(tmp_path / "optimizer.pt", weights_only=True)
    assert set(loaded) == {"adamw", "muon"} and len(loaded["muon"]["state"]) == len(BLOCK_MATRICES)
    copied = copy.deepcopy(model)
    resumed = make_optimizer(copied, cfg, CPU)
    assert isinstance(resumed, MuonWithAdamW)
    resumed.load_state_dict(loaded)
    train_steps(model, optimizer, 2)
    train_steps(copied, resumed, 2)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), copied.parameters()))


@pytest.mark.parametrize("saved, configured", [("adamw", "muon"), ("muon", "adamw")])
def test_resuming_with_another_optimizer_is_one_line(text_file, tmp_path, capsys, saved, configured):
    run = pretrain(tiny_config(text_file, max_iters=8, optimizer=saved), out=tmp_path / "run")
    err = one_line_error(["pretrain", "--resume", str(run), "--optimizer", configured, "--no-progress"], capsys)
    assert f"holds {saved} optimizer state, but the run is configured with optimizer {configured}" in err


def test_muon_pretrains_a_tiny_model_about_as_well_as_adamw(text_file, tmp_path):
    """40 steps of the tiny preset (AdamW at lr 3e-3, Muon at its default muon_lr). Measured over seeds 1337, 1, 2:
    from 5.7, AdamW reaches a validation loss of 3.18 / 3.23 / 3.22 and Muon 3.13 / 3.21 / 3.19, 0.02-0.05 lower;
    the test allows Muon 0.05 higher (at muon_lr = lr = 3e-3 it is 0.04 higher)."""
    val_loss = {}
    for optimizer in ("adamw", "muon"):
        config = tiny_config(text_file, max_iters=40, lr_decay_iters=40, eval_interval=40, optimizer=optimizer)
        records = logged(pretrain(config, out=tmp_path / optimizer))
        val_loss[optimizer] = records[-1]["val_loss"]
    assert val_loss["muon"] < records[0]["loss"] - 2.0, (records[0]["loss"], val_loss)
    assert val_loss["muon"] < val_loss["adamw"] + 0.05, val_loss


def test_the_speedrun_preset_trains_with_muon_and_stops_on_the_clock(text_file, tmp_path):
    import json

    from lmlab.stages.pretrain import PretrainConfig

    config = PretrainConfig.build("shakespeare-speedrun", overrides={"data": str(text_file), "max_seconds": 2.0,
                                                                     "progress": False})  # fmt: skip
    assert config.train.optimizer == "muon" and config.model.qk_norm
    run = pretrain(config, out=tmp_path / "speedrun")
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = max(r["step"] for r in steps if "step" in r)
    assert 0 < last < config.train.max_iters  # the clock ended it, not the step count
    assert any("val_loss" in r for r in steps)
