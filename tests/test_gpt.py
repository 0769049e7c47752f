import contextlib
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from lmlab.inference.engine import SlotCache
from lmlab.inference.generate import generate
from lmlab.interop.huggingface import export_family
from lmlab.losses import cross_entropy
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.models.reward import PolicyWithCritic


def tiny(**kw):
    cfg = dict(n_layer=2, n_head=4, n_embd=32, block_size=16, vocab_size=50)
    cfg.update(kw)
    return GPT(ModelConfig(**cfg))


@pytest.mark.parametrize("pos", ["learned", "sinusoidal", "rope"])
@pytest.mark.parametrize("norm,mlp", [("layernorm", "gelu"), ("rmsnorm", "swiglu")])
def test_forward_gives_logits_and_loss_for_every_option(pos, norm, mlp):
    model = tiny(pos_encoding=pos, norm=norm, mlp=mlp, n_kv_head=2)
    idx, targets = torch.randint(0, 50, (2, 3, 16))
    logits = model(idx)
    assert logits.shape == (3, 16, 50)
    loss = cross_entropy(logits, targets)
    assert loss.n == 3 * 16
    assert abs(loss.sum.item() / loss.n - torch.log(torch.tensor(50.0)).item()) < 0.3  # near uniform at init


@pytest.mark.parametrize("pos", ["learned", "sinusoidal", "rope"])
@torch.no_grad()  # as in generation: one-token steps take the split matrix-vector path
def test_kv_cache_logits_equal_full_recomputation(pos):
    model = tiny(pos_encoding=pos, n_kv_head=2).eval()
    idx = torch.randint(0, 50, (2, 16))
    full = model(idx)
    cache = model.new_cache(2, "cpu")
    pieces = [model(idx[:, :5], cache=cache)]  # prefill, then a chunk, then one token at a time
    pieces.append(model(idx[:, 5:9], cache=cache))
    pieces += [model(idx[:, t : t + 1], cache=cache) for t in range(9, 16)]
    incremental = torch.cat(pieces, dim=1)
    assert (incremental - full).abs().max().item() < 1e-4


def test_model_is_causal():
    model = tiny().eval()
    idx = torch.randint(0, 50, (1, 16))
    changed = idx.clone()
    changed[0, 10] = (idx[0, 10] + 1) % 50
    a, b = model(idx), model(changed)
    assert torch.allclose(a[:, :10], b[:, :10], atol=1e-6)
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_math_and_sdpa_attention_agree():
    a = tiny(attn_impl="sdpa").eval()
    b = tiny(attn_impl="math").eval()
    b.load_state_dict(a.state_dict())
    idx = torch.randint(0, 50, (2, 16))
    assert (a(idx) - b(idx)).abs().max().item() < 1e-5


def test_param_count_and_flops_match_hand_count():
    model = tiny(bias=False, tie_embeddings=True, pos_encoding="rope")
    C, L, V = 32, 2, 50
    per_block = 3 * C * C + C * C + 8 * C * C + 2 * C  # qkv, proj, mlp, two norm gains
    assert model.num_params() == V * C + L * per_block + C
    # causal attention: half of the full T x T score and value matmuls (6 L C T of PaLM's 12 L C T), T = 16
    assert model.flops_per_token() == 6 * model.num_params() + 6 * L * C * 16


def test_grouped_query_attention_has_fewer_kv_parameters():
    assert tiny(n_kv_head=1).num_params() < tiny(n_kv_head=4).num_params()


def test_a_few_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    idx = torch.randint(0, 50, (4, 16))
    first = None
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(idx).flatten(0, 1), idx.roll(-1, dims=1).flatten())
        first = first or loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first * 0.5


# ---- the modded-nanogpt options ----------------------------------------------------------------------------
MODDED = {
    "qk_norm": dict(qk_norm=True),
    "relu2": dict(mlp="relu2"),
    "zero_init_proj": dict(zero_init_proj=True),
    "logit_softcap": dict(logit_softcap=1.0),  # logits reach ~1 with the perturbed weights: the cap bends them
}
MODDED["all"] = {k: v for options in MODDED.values() for k, v in options.items()}


def trained_looking(model: GPT, std: float = 0.1) -> GPT:
    """Noise on every weight: the zero projections, unit gains and small logits of the init no longer hide a path."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p), alpha=std)
    return model


@pytest.mark.parametrize("pos", ["learned", "rope"])
@pytest.mark.parametrize("option", MODDED)
@torch.no_grad()
def test_kv_cache_logits_equal_full_forward_with_each_modded_option(option, pos):
    model = trained_looking(tiny(pos_encoding=pos, n_kv_head=2, **MODDED[option])).eval()
    idx = torch.randint(0, 50, (2, 16))
    full = model(idx)
    cache = model.new_cache(2, "cpu")
    pieces = [model(idx[:, :5], cache=cache), model(idx[:, 5:9], cache=cache)]
    pieces += [model(idx[:, t : t + 1], cache=cache) for t in range(9, 16)]
    assert (torch.cat(pieces, dim=1) - full).abs().max().item() < 1e-5


@pytest.mark.parametrize("precision", ["fp32", "bf16-weights", "bf16-autocast"])
@torch.no_grad()
def test_all_modded_options_decode_with_the_engines_slot_cache(precision):
    """As the engine runs: rows prefilled alone into slots 2 and 0, then decoded together at different positions,
    in an fp32 SlotCache; bf16 as the engine's batch model (bf16 weights) or as generate_batch (autocast)."""
    torch.manual_seed(0)
    model = trained_looking(tiny(pos_encoding="rope", n_kv_head=2, **MODDED["all"])).eval()
    idx = torch.randint(0, 50, (2, 12))
    full = model(idx)  # fp32, no cache
    runner = copy.deepcopy(model).to(torch.bfloat16) if precision == "bf16-weights" else model
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16-autocast" else contextlib.nullcontext()
    cache = SlotCache(model.config, 3, "cpu")
    got, want = [], []
    with autocast:
        for slot, row, n in ((2, 0, 7), (0, 1, 4)):
            cache.select([slot], [0])
            got.append(runner(idx[row : row + 1, :n], cache=cache)[0])
            want.append(full[row, :n])
        for t in range(3):
            cache.select([2, 0], [7 + t, 4 + t])
            step = runner(torch.stack([idx[0, 7 + t], idx[1, 4 + t]])[:, None], cache=cache)  # (2, 1, V)
            got.append(step[:, 0])
            want.append(torch.stack([full[0, 7 + t], full[1, 4 + t]]))
    error = max((g.float() - w).abs().max().item() for g, w in zip(got, want))
    assert error < (1e-5 if precision == "fp32" else 0.05)  # bf16: 8 bits of mantissa through two blocks


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_greedy_generation_is_the_same_with_and_without_the_cache_with_all_modded_options(pos):
    model = trained_looking(tiny(pos_encoding=pos, **MODDED["all"]), std=0.3)
    cached = list(generate(model, [1, 2, 3], 10, temperature=0))
    assert cached == list(generate(model, [1, 2, 3], 10, temperature=0, use_cache=False))


def test_qk_norm_feeds_attention_queries_and_keys_of_rms_one(monkeypatch):
    torch.manual_seed(0)
    model = tiny(qk_norm=True, pos_encoding="rope", n_kv_head=2).eval()  # gains at 1; RoPE rotates after the norm
    with torch.no_grad():
        for block in model.h:
            block.attn.c_attn.weight.mul_(10.0)  # raw q and k far from RMS 1
    fed = []
    sdpa = F.scaled_dot_product_attention

    def spy(q, k, v, **kw):
        fed.append((q, k))
        return sdpa(q, k, v, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    model(torch.randint(0, 50, (2, 16)))
    assert len(fed) == model.config.n_layer
    for q, k in fed:  # (B, nh, T, hs) each, k repeated over the query groups
        rms = torch.cat([q, k], dim=1).pow(2).mean(-1).sqrt()
        assert (rms - 1).abs().max().item() < 1e-4


def test_qk_norm_adds_two_gains_of_head_size_per_layer():
    hs, L = 32 // 4, 2
    assert tiny(qk_norm=True).num_params() - tiny().num_params() == 2 * hs * L
    assert tiny(qk_norm=True, n_kv_head=1).num_params() - tiny(n_kv_head=1).num_params() == 2 * hs * L


def test_relu2_has_gelus_parameters_and_squares_the_relu():
    for width in (0, 48):  # the default 4C and an explicit mlp_hidden
        assert tiny(mlp="relu2", mlp_hidden=width).num_params() == tiny(mlp_hidden=width).num_params()
    torch.manual_seed(0)
    relu2 = tiny(mlp="relu2")
    torch.manual_seed(0)
    gelu = tiny()
    idx = torch.randint(0, 50, (1, 16))
    assert not torch.allclose(relu2(idx), gelu(idx))  # same weights (same init draws), another nonlinearity
    mlp, x = relu2.h[0].mlp, torch.randn(3, 32)
    assert torch.allclose(mlp(x), mlp.c_proj(torch.relu(mlp.c_fc(x)) ** 2))


def test_zero_init_proj_makes_every_block_the_identity_until_the_first_step():
    torch.manual_seed(0)
    model = tiny(zero_init_proj=True)
    idx = torch.randint(0, 50, (2, 16))
    identity = model.lm_head(model.ln_f(model.wte(idx) + model.wpe(torch.arange(16))))
    assert torch.equal(model(idx), identity)
    assert all(block.attn.c_attn.weight.abs().sum() > 0 for block in model.h)  # only the projections start at 0
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    F.cross_entropy(model(idx).flatten(0, 1), idx.roll(-1, dims=1).flatten()).backward()
    opt.step()
    identity = model.lm_head(model.ln_f(model.wte(idx) + model.wpe(torch.arange(16))))
    assert (model(idx) - identity).abs().max().item() > 1e-3
    assert export_family(model.config, "run") == "gpt2"  # an initialisation only: the model exports as GPT-2


def test_logit_softcap_bounds_the_logits_and_a_huge_cap_changes_nothing():
    torch.manual_seed(0)
    capped, huge, uncapped = tiny(logit_softcap=5.0), tiny(logit_softcap=1e4), tiny()
    huge.load_state_dict(capped.state_dict())
    uncapped.load_state_dict(capped.state_dict())
    idx = torch.randint(0, 50, (2, 16))
    assert (huge(idx) - uncapped(idx)).abs().max().item() < 1e-4  # cap * tanh(x / cap) = x - x^3 / (3 cap^2) + ...
    with torch.no_grad():
        for model in (capped, uncapped):
            model.wte.weight.mul_(1000.0)  # the tied head too
    assert uncapped(idx).abs().max().item() > 100 * 5.0
    assert capped(idx).abs().max().item() <= 5.0  # tanh rounds to exactly 1 in float32 past ~9: <=, not <


@torch.no_grad()
def test_logit_softcap_applies_on_every_path_to_logits():
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=4, n_embd=32, block_size=16, vocab_size=50, logit_softcap=0.5)
    model = trained_looking(PolicyWithCritic(cfg, None), std=0.3).eval()  # a GPT, with PPO's logits-and-values path
    idx = torch.randint(0, 50, (2, 16))
    full = model(idx)
    uncapped = model.lm_head(model.hidden_states(idx))
    assert uncapped.abs().max().item() > 2 * 0.5
    assert torch.allclose(full, 0.5 * torch.tanh(uncapped / 0.5), atol=1e-6)
    mask = torch.rand(2, 16) < 0.5
    assert torch.allclose(model(idx, last_only=True), full[:, -1:], atol=1e-6)
    assert torch.allclose(model(idx, target_mask=mask), full[mask], atol=1e-6)
    assert torch.allclose(model(idx, target_mask=mask, with_values=True)[0], full[mask], atol=1e-6)
    cache = model.new_cache(2, "cpu")
    assert torch.allclose(model(idx, cache=cache), full, atol=1e-6)


def test_new_options_are_off_by_default_and_leave_the_model_unchanged():
    torch.manual_seed(0)
    default = tiny()
    torch.manual_seed(0)
    off = tiny(qk_norm=False, mlp="gelu", zero_init_proj=False, logit_softcap=0.0)
    assert default.state_dict().keys() == off.state_dict().keys()
    assert all(torch.equal(a, off.state_dict()[name]) for name, a in default.state_dict().items())
    idx = torch.randint(0, 50, (2, 16))
    assert torch.equal(default(idx), off(idx))
    # The init draws of the code before these options (seed 0): the first drawn tensor's (the tied head) and the
    # last's (the last MLP projection, GPT-2's scaled draw), as that code drew them.
    first = [0.005263581871986389, 0.0049104755744338036, -0.06560446321964264]
    last = [0.005174064077436924, -0.006987909320741892, -0.021164145320653915]
    assert torch.equal(default.lm_head.weight.flatten()[:3], torch.tensor(first))
    assert torch.equal(default.h[1].mlp.c_proj.weight.flatten()[:3], torch.tensor(last))


def test_output_projections_start_at_gpt2s_scaled_std_or_at_zero():
    L, C = 4, 128
    for zero in (False, True):
        torch.manual_seed(0)
        model = tiny(n_layer=L, n_embd=C, zero_init_proj=zero)
        proj = torch.cat([p.flatten() for name, p in model.named_parameters() if name.endswith("c_proj.weight")])
        assert proj.numel() == L * (C * C + 4 * C * C)  # attention's and the MLP's
        std = 0.0 if zero else 0.02 / math.sqrt(2 * L)
        assert abs(proj.std().item() - std) <= 0.01 * std


def test_activation_checkpointing_gives_the_same_loss_and_gradients_with_dropout():
    """Recomputing each block in backward (TrainConfig.activation_checkpointing) changes memory, not the numbers:
    the recomputation draws the forward pass's dropout masks again."""
    cfg = ModelConfig(n_layer=3, n_head=2, n_embd=32, block_size=16, vocab_size=40, dropout=0.2, pos_encoding="rope")
    results = []
    for recompute in (False, True):
        torch.manual_seed(0)
        model = GPT(cfg).train()
        model.checkpoint_blocks = recompute
        idx = torch.randint(0, 40, (2, 16), generator=torch.Generator().manual_seed(1))
        torch.manual_seed(2)
        loss = F.cross_entropy(model(idx[:, :-1]).flatten(0, 1), idx[:, 1:].flatten())
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert torch.equal(loss_a, loss_b)
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], atol=1e-6, rtol=1e-5, msg=name)
