"""The mixture-of-experts MLP (lmlab.models.moe): dispatch, capacity and the auxiliary losses against hand-computed
values; and everything around a model keeps working with it: training with its losses and metrics, bitwise resume,
the KV cache, SFT, inspect, the Mixtral export, and bad settings as one line."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from lmlab import cli
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import MLP
from lmlab.models.moe import MoE, active_params, aux_losses
from lmlab.runs import load_run
from lmlab.stages.pretrain import PretrainConfig, pretrain
from lmlab.stages.sft import SFTConfig, sft


def moe_layer(C=8, E=3, K=2, shared=0, hidden=8, **extra) -> MoE:
    cfg = ModelConfig(n_embd=C, mlp="swiglu", bias=False, moe_experts=E, moe_top_k=K, moe_shared=shared,
                      moe_hidden=hidden, **extra)  # fmt: skip
    torch.manual_seed(0)
    layer = MoE(cfg, lambda h: MLP(cfg, h))
    for p in layer.parameters():
        torch.nn.init.normal_(p, std=0.5)
    return layer


def swiglu(mlp: MLP, x: torch.Tensor) -> torch.Tensor:
    gate, up = (mlp.c_fc.weight @ x).chunk(2)
    return mlp.c_proj.weight @ (F.silu(gate) * up)


def test_each_token_gets_its_top_k_experts_weighted_by_renormalised_probabilities_plus_the_shared_expert():
    layer = moe_layer(E=4, K=2, shared=1)
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        got = layer(x).reshape(-1, 8)
        for n, token in enumerate(x.reshape(-1, 8)):  # by hand, one token at a time
            p = torch.softmax(layer.router.weight @ token, 0)
            top = p.argsort(descending=True)[:2].tolist()
            want = sum(p[e] / p[top].sum() * swiglu(layer.experts[e], token) for e in top)
            want = want + swiglu(layer.shared, token)
            assert torch.allclose(got[n], want, atol=1e-5), n
    assert layer.shared.hidden == 8 and layer.experts[0].hidden == 8


def test_load_balancing_and_z_loss_equal_their_formulas_on_known_router_logits():
    layer = moe_layer(C=2, E=2, K=1, hidden=4)
    with torch.no_grad():
        layer.router.weight.copy_(torch.eye(2))
    x = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.5, 0.0]])  # logits = x: experts 0, 0, 1, 0
    layer(x)
    p0 = [1 / (1 + math.exp(-2)), 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(3)), 1 / (1 + math.exp(-0.5))]
    f = [3 / 4, 1 / 4]  # the share of assignments
    P = [sum(p0) / 4, sum(1 - q for q in p0) / 4]  # the mean router probability
    balance = 2 * (f[0] * P[0] + f[1] * P[1])
    z = sum(math.log(math.exp(a) + math.exp(b)) ** 2 for a, b in x.tolist()) / 4
    assert layer.stats["aux_loss"].item() == pytest.approx(balance, rel=1e-5)
    assert layer.stats["z_loss"].item() == pytest.approx(z, rel=1e-5)
    assert layer.stats["load"].tolist() == f
    total, metrics = aux_losses([layer])
    assert total.item() == pytest.approx(0.01 * balance + 0.001 * z, rel=1e-5) and layer.aux == []
    assert metrics["moe/load_max"].item() == pytest.approx(1.5)  # the busiest expert's share times E
    with torch.no_grad():
        layer(x)
    assert layer.aux == []  # no auxiliary loss outside training


def test_capacity_drops_the_latest_tokens_of_a_full_expert_and_logs_the_share():
    layer = moe_layer(C=2, E=2, K=1, hidden=4, moe_capacity=1.0)  # ceil(1.0 * 4 * 1 / 2) = 2 tokens an expert
    with torch.no_grad():
        layer.router.weight.copy_(torch.eye(2))
        x = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.5, 0.0]])  # 3 tokens want expert 0
        out = layer(x)
        full = moe_layer(C=2, E=2, K=1, hidden=4)
        full.load_state_dict(layer.state_dict())
        dropless = full(x)
    assert torch.equal(out[:3], dropless[:3]) and torch.equal(out[3], torch.zeros(2))  # the 4th token is dropped
    assert layer.stats["dropped"].item() == pytest.approx(0.25) and full.stats["dropped"].item() == 0


def test_active_parameters_count_k_of_e_routed_experts():
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=32, mlp="swiglu", bias=False,
                      moe_experts=4, moe_top_k=1, moe_hidden=16)  # fmt: skip
    model = build_model(cfg)
    expert = 16 * 32 + 16 * 16  # c_fc (2 * hidden, C) and c_proj (C, hidden)
    assert model.num_params(non_embedding=False) - active_params(model) == 2 * 3 * expert
    assert model.num_params() - model.num_params(active=True) == 2 * 3 * expert


@pytest.fixture(scope="module")
def moe_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("moe")
    lines = [f"verse {i}: the word of the {w} is good.\n" for i in range(400) for w in ("lord", "king", "sea")]
    (root / "corpus.txt").write_text("".join(lines))
    overrides = dict(data=str(root / "corpus.txt"), max_iters=40, dtype="float32", progress=False, moe_experts=4,
                     moe_top_k=2, pos_encoding="rope", norm="rmsnorm", mlp="swiglu", bias=False, dropout=0.1,
                     eval_interval=20, lr_decay_iters=40)  # fmt: skip
    return root, overrides, pretrain(PretrainConfig.build("tiny", overrides=overrides), out=root / "pre")


def test_training_logs_the_routing_and_resumes_bitwise(moe_run):
    root, overrides, run = moe_run
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = records[-1]
    assert {"moe/aux_loss", "moe/z_loss", "moe/load_max", "moe/dropped"} <= set(last)
    assert 1 <= last["moe/aux_loss"] < 2 and 1 <= last["moe/load_max"] <= 4 and last["moe/dropped"] == 0
    stopped = pretrain(PretrainConfig.build("tiny", overrides={**overrides, "max_iters": 20}), out=root / "half")
    pretrain(PretrainConfig(), resume=stopped, overrides={"max_iters": 40})
    a, b = load_file(stopped / "model.safetensors"), load_file(run / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_auxiliary_loss_is_trained_a_heavy_weight_balances_the_load(moe_run):
    root, overrides, _ = moe_run
    loads = {}
    for weight in (0.0, 1.0):
        config = PretrainConfig.build("tiny", overrides={**overrides, "moe_aux_weight": weight, "max_iters": 30})
        run = pretrain(config, out=root / f"aux{weight:g}")
        loads[weight] = [json.loads(line)["moe/aux_loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert loads[1.0][-1] < loads[0.0][-1] - 0.02, loads


def test_kv_cache_decoding_matches_the_full_forward(moe_run):
    model = load_run(moe_run[2]).model
    ids = torch.randint(0, model.config.vocab_size, (2, 24))
    cache = model.new_cache(2, "cpu")
    with torch.no_grad():
        steps = [model(ids[:, :16], cache=cache)] + [model(ids[:, t : t + 1], cache=cache) for t in range(16, 24)]
        assert torch.allclose(torch.cat(steps, 1), model(ids), atol=1e-5)


def test_sft_fine_tunes_an_moe_run_with_its_losses(moe_run, tmp_path):
    run = sft(SFTConfig.build("tiny", overrides=dict(max_iters=4, progress=False, dtype="float32")),
              init=moe_run[2], out=tmp_path / "sft")  # fmt: skip
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert "moe/aux_loss" in last and math.isfinite(last["loss"])
    assert load_run(run).model.config.moe_experts == 4


def test_inspect_experts_shows_the_routers_choice_of_every_token(moe_run, tmp_path, capsys):
    assert cli.main(["inspect", "experts", str(moe_run[2]), "verse 3: the word", "--out", str(tmp_path)]) == 0
    model = load_run(moe_run[2]).model
    from lmlab.inspect import expert_routing

    ids = load_run(moe_run[2]).tokenizer.encode("verse 3: the word")
    experts, weights = expert_routing(model, ids)
    assert experts.shape == (model.config.n_layer, len(ids), 2)
    assert torch.allclose(weights.sum(-1), torch.ones(model.config.n_layer, len(ids)))
    assert (tmp_path / "experts.png").stat().st_size > 5000 and "expert load" in (tmp_path / "index.md").read_text()
    assert "Routing of" in capsys.readouterr().out


def test_export_writes_mixtral_with_the_same_logits(moe_run, tmp_path):
    transformers = pytest.importorskip("transformers")
    assert cli.main(["export", str(moe_run[2]), str(tmp_path / "hf")]) == 0
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["model_type"] == "mixtral" and config["num_local_experts"] == 4
    theirs = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    ours = load_run(moe_run[2]).model
    ids = torch.randint(0, ours.config.vocab_size, (2, 20))
    with torch.no_grad():
        assert torch.allclose(theirs(ids).logits, ours(ids), atol=1e-4)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--moe-experts", "4", "--moe-top-k", "5"], "--moe-top-k 5: expected 1 to --moe-experts (4)"),
        (["--moe-experts", "1"], "--moe-experts 1: expected 0 (a dense MLP) or at least 2"),
        (["--moe-shared", "1"], "--moe-shared needs --moe-experts"),
        (["--moe-experts", "2", "--arch", "lstm"], "--arch lstm has none"),
        (["--moe-experts", "2", "--moe-capacity", "-1"], "must not be negative"),
    ],
)
def test_bad_moe_settings_are_one_line_and_exit_2(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert cli.main(["pretrain", "--preset", "tiny", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_exports_without_an_equivalent_are_refused_by_name(moe_run, tmp_path, capsys):
    root, overrides, run = moe_run
    shared = pretrain(PretrainConfig.build("tiny", overrides={**overrides, "max_iters": 1, "moe_shared": 1}),
                      out=tmp_path / "shared")  # fmt: skip
    assert cli.main(["export", str(shared), str(tmp_path / "hf")]) == 2
    assert "moe_shared 1 has no transformers equivalent" in capsys.readouterr().err
    assert cli.main(["export", str(run), str(tmp_path / "m.gguf"), "--format", "gguf"]) == 2
    assert "no GGUF export for a mixture of experts" in capsys.readouterr().err
    assert not (tmp_path / "hf").exists() and not (tmp_path / "m.gguf").exists()


def test_inspect_experts_of_a_dense_run_is_one_line(moe_run, tmp_path, capsys):
    root, overrides, _ = moe_run
    dense = {**overrides, "moe_experts": 0, "max_iters": 1}
    run = pretrain(PretrainConfig.build("tiny", overrides=dense), out=tmp_path / "dense")
    assert cli.main(["inspect", "experts", str(run), "verse 3", "--out", str(tmp_path / "i")]) == 2
    assert "no mixture-of-experts layers" in capsys.readouterr().err
