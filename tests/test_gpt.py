import pytest
import torch

from lmlab.losses import cross_entropy
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT


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
    assert model.flops_per_token() == 6 * model.num_params() + 12 * L * C * 16


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
