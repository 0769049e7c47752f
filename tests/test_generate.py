import math

import pytest
import torch
import torch.nn.functional as F

from lmlab.inference.generate import (
    CachedContext,
    compile_for_decoding,
    filter_logits,
    generate,
    generate_batch,
    next_token,
    sample_rows,
)
from lmlab.models import gpt
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.models.rnn import RecurrentLM

NEG_INF = float("-inf")


def tiny_gpt(**overrides) -> GPT:
    torch.manual_seed(0)
    shape = dict(n_layer=2, n_head=4, n_kv_head=2, n_embd=32, block_size=16, vocab_size=64, pos_encoding="rope")
    model = GPT(ModelConfig(**{**shape, **overrides})).eval()
    # Weights 10x GPT's init (std 0.02) make attention depend strongly on which tokens are in the
    # context, so a cache that covers the wrong tokens shows in the logits (see the off-by-one check).
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.2)
    return model


@pytest.fixture
def bmm_calls(monkeypatch):
    """Counts torch.bmm calls: gpt.Linear's batch-1 split matrix-vector path is one bmm per layer."""
    calls, bmm = [], torch.bmm

    def counting_bmm(*args, **kwargs):
        calls.append(1)
        return bmm(*args, **kwargs)

    monkeypatch.setattr(torch, "bmm", counting_bmm)
    return calls


# (atol, rtol) for cached vs recomputed logits (magnitudes up to ~4 here). fp32: the two paths sum
# the same products in a different order (one-row split bmm vs a GEMM over the window; a different
# attention kernel), ~1e-6 apart. bf16 keeps 8 significant bits, so one rounding of a logit near 4
# moves it by up to 2^-6 = 0.016, and the paths round intermediate results at different places
# (e.g. the split path adds the bias after rounding the product); rtol 2^-6 (two bf16 ulps) plus a
# small atol for logits near zero allows that, and stays well below the ~0.2 a wrong context makes.
TOLERANCE = {torch.float32: (1e-4, 1e-4), torch.bfloat16: (1e-2, 2**-6)}
MODELS = {"rope-gqa": dict(pos_encoding="rope", n_kv_head=2), "learned-mha": dict(pos_encoding="learned", n_kv_head=0)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("arch", MODELS)
def test_cached_logits_equal_a_full_recomputation_over_the_tokens_the_cache_covers(arch, dtype, bmm_calls):
    model = tiny_gpt(**MODELS[arch])
    block_size, (atol, rtol) = model.config.block_size, TOLERANCE[dtype]
    generator = torch.Generator().manual_seed(0)
    sequence = [3, 1, 4, 1, 5]
    context, new, resets = CachedContext(model, "cpu"), sequence, 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        for _ in range(40):
            covered_before = len(context.tokens)
            logits = context.next_logits(new)
            assert logits.dtype == dtype and logits.shape == (1, model.config.vocab_size)
            if len(context.tokens) < covered_before + len(new):  # the window rule rebuilt the cache
                resets += 1
                assert len(context.tokens) == block_size // 2
            assert len(context.tokens) <= block_size
            assert context.tokens == sequence[-len(context.tokens) :]  # the cache covers the latest tokens
            recomputed = model(torch.tensor([context.tokens]))[:, -1]
            torch.testing.assert_close(logits, recomputed, atol=atol, rtol=rtol)
            one_token_short = model(torch.tensor([context.tokens[1:]]))[:, -1]
            assert not torch.allclose(logits, one_token_short, atol=atol, rtol=rtol)  # the check can fail
            token = int(torch.multinomial(logits.float().softmax(-1), 1, generator=generator))
            sequence, new = sequence + [token], [token]
    assert resets >= 2
    assert bmm_calls  # each one-token decode step ran gpt.Linear's split path


def test_a_prompt_longer_than_the_window_is_cut_to_its_last_half_window():
    model = tiny_gpt()
    prompt = list(range(1, 21))  # 20 tokens, block_size 16
    context = CachedContext(model, "cpu")
    with torch.no_grad():
        logits = context.next_logits(prompt)
        assert context.tokens == prompt[-8:]
        torch.testing.assert_close(logits, model(torch.tensor([prompt[-8:]]))[:, -1], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("shape", [(1, 32), (1, 1, 32)])
def test_linear_split_path_for_one_row_without_grad_equals_the_plain_product(shape, dtype, bmm_calls):
    torch.manual_seed(0)
    layer = gpt.Linear(32, 64)
    x = torch.randn(shape)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        y = layer(x)
        assert len(bmm_calls) == 1  # the split path, not nn.Linear's
        expected = F.linear(x, layer.weight, layer.bias)
    assert y.dtype == expected.dtype == dtype and y.shape == (*shape[:-1], 64)
    # assert_close's defaults per dtype: fp32 rtol 1.3e-6; bf16 rtol 1.6e-2, two ulps of its 8 bits,
    # as the split path rounds the product to bf16 before adding the bias and F.linear rounds once.
    torch.testing.assert_close(y, expected)


def test_top_k_keeps_the_k_largest_logits_of_each_row():
    logits = torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 1.0, 3.0, 2.0]])
    assert filter_logits(logits, top_k=2).tolist() == [[NEG_INF, NEG_INF, 3.0, 4.0], [4.0, NEG_INF, 3.0, NEG_INF]]
    assert filter_logits(logits, top_k=10).tolist() == logits.tolist()  # k beyond the vocabulary keeps all


@pytest.mark.parametrize(
    "top_p,kept",
    [
        (0.35, [0.4]),  # 0.4 >= 0.35 alone
        (0.65, [0.4, 0.3]),  # 0.4 < 0.65 <= 0.4 + 0.3
        (0.75, [0.4, 0.3, 0.2]),  # 0.7 < 0.75 <= 0.9
        (0.95, [0.4, 0.3, 0.2, 0.1]),
        (0.0, [0.4]),  # the most likely token always stays
    ],
)
def test_top_p_keeps_the_smallest_set_of_most_likely_tokens_with_mass_at_least_p(top_p, kept):
    probs = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.3, 0.1, 0.4, 0.2]])  # the second row is shuffled
    logits = probs.log()
    filtered = filter_logits(logits, top_p=top_p)
    for row in range(2):
        assert sorted(probs[row][filtered[row].isfinite()].tolist(), reverse=True) == pytest.approx(kept)
    assert torch.equal(filtered[filtered.isfinite()], logits[filtered.isfinite()])  # kept logits unchanged


def test_top_p_applies_to_the_distribution_that_top_k_leaves():
    logits = torch.tensor([[0.1, 0.2, 0.3, 0.4]]).log()
    # top_k=2 leaves 0.3 and 0.4, renormalised to 3/7 and 4/7; 4/7 >= 0.5 alone.
    assert filter_logits(logits, top_k=2, top_p=0.5).isfinite().tolist() == [[False, False, False, True]]
    assert filter_logits(logits, top_p=0.5).isfinite().tolist() == [[False, False, True, True]]  # 0.4 < 0.5


def test_temperature_divides_the_logits_and_zero_is_greedy():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # probabilities 1/4, 3/4
    torch.testing.assert_close(filter_logits(logits, temperature=2.0), logits / 2)
    hot = filter_logits(logits, temperature=2.0).softmax(-1)  # 1 : sqrt(3)
    torch.testing.assert_close(hot, torch.tensor([[1.0, math.sqrt(3.0)]]) / (1 + math.sqrt(3.0)))
    generator = torch.Generator().manual_seed(0)
    assert [int(next_token(logits, 0.0, None, None, generator)) for _ in range(5)] == [1] * 5


@pytest.mark.parametrize("seed", [None, 7])
def test_sampling_leaves_the_global_rng_untouched(seed):
    model = tiny_gpt()
    state = torch.get_rng_state()
    tokens = list(generate(model, [1, 2], 10, temperature=1.0, top_k=20, top_p=0.9, seed=seed))
    assert len(tokens) == 10
    assert torch.equal(torch.get_rng_state(), state)


def test_seeded_sampling_is_reproducible_whatever_the_global_seed():
    model = tiny_gpt()
    runs = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        runs.append(list(generate(model, [1, 2], 20, temperature=1.0, seed=3)))
    assert runs[0] == runs[1]
    assert list(generate(model, [1, 2], 20, temperature=1.0, seed=4)) != runs[0]


def test_generate_streams_lazily_and_stops_after_a_stop_id():
    model = tiny_gpt()
    full = list(generate(model, [1, 2, 3], 12, temperature=0))
    assert len(full) == 12
    assert next(generate(model, [1, 2, 3], 12, temperature=0)) == full[0]  # the first token, before the rest
    stop = full[5]
    assert list(generate(model, [1, 2, 3], 12, temperature=0, stop_ids=(stop,))) == full[: full.index(stop) + 1]


def test_within_the_window_cached_and_recomputed_greedy_generation_agree():
    model = tiny_gpt()
    prompt = [5, 6, 7]  # 3 + 13 tokens fit block_size 16: neither path drops a token
    assert list(generate(model, prompt, 13, temperature=0)) == list(generate(model, prompt, 13, 0, use_cache=False))


def test_generate_recomputes_the_window_for_a_recurrent_model():
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(arch="gru", n_layer=1, n_embd=16, block_size=8, vocab_size=50)).eval()
    tokens = [1, 2, 3]
    out = list(generate(model, tokens, 20, temperature=0))
    with torch.no_grad():
        for token in out:
            assert token == int(model(torch.tensor([tokens[-8:]]))[:, -1].argmax())
            tokens.append(token)


# ---- generate_batch: many prompts at once ------------------------------------------------------
def test_greedy_generate_batch_equals_generate_for_each_prompt_of_several_lengths():
    model = tiny_gpt(block_size=24)
    prompts = [[1, 2, 3], [4, 5], [6, 7, 8], [9], [10, 11, 12, 13, 14], [4, 5]]  # lengths 1, 2, 3, 5; some shared
    batched = generate_batch(model, prompts, 8, temperature=0, batch_size=2)  # also several batches per length
    assert batched == [list(generate(model, p, 8, temperature=0)) for p in prompts]
    assert all(len(ids) == 8 for ids in batched) and batched[1] == batched[5]


def test_generate_batch_stops_each_row_at_its_first_stop_id_and_leaves_it_out():
    model = tiny_gpt()
    prompts = [[1, 2, 3], [3, 2, 1], [7, 8, 9]]
    full = generate_batch(model, prompts, 10, temperature=0)
    stop = full[0][1]
    stopped = generate_batch(model, prompts, 10, temperature=0, stop_ids=(stop, 10**6))
    for row, ids in zip(stopped, full):
        assert row == (ids[: ids.index(stop)] if stop in ids else ids)
    assert len(stopped[0]) == 1 and any(len(row) == 10 for row in stopped)  # one row cut, another never stopped


def test_generate_batch_never_runs_past_the_context():
    model = tiny_gpt()  # block_size 16
    assert [len(ids) for ids in generate_batch(model, [[1] * 12, [2] * 15], 10, temperature=0)] == [4, 1]


def test_seeded_generate_batch_is_reproducible_and_the_seed_matters():
    model = tiny_gpt()
    prompts = [[1, 2], [3, 4, 5], [1, 2]]
    first = generate_batch(model, prompts, 10, temperature=1.0, top_k=20, seed=3)
    torch.manual_seed(123)  # the global RNG plays no part
    assert generate_batch(model, prompts, 10, temperature=1.0, top_k=20, seed=3) == first
    assert generate_batch(model, prompts, 10, temperature=1.0, top_k=20, seed=4) != first


@pytest.mark.parametrize("length", [0, 16, 20])
def test_generate_batch_refuses_a_prompt_that_leaves_no_room_for_a_token(length):
    with pytest.raises(ValueError, match=f"prompt 1 has {length} tokens"):
        generate_batch(tiny_gpt(), [[1, 2], [3] * length], 4)


def test_a_row_of_sample_rows_draws_the_same_tokens_whichever_rows_share_its_batch():
    model = tiny_gpt()
    prompts = torch.randint(0, 64, (4, 5), generator=torch.Generator().manual_seed(1))
    together = sample_rows(model, prompts, 8, seeds=[11, 12, 13, 14], stop_ids=(3,))
    for b in range(4):
        alone = sample_rows(model, prompts[b : b + 1], 8, seeds=[11 + b], stop_ids=(3,))
        n = alone.size(1)
        assert torch.equal(together[b, :n], alone[0]), b
        assert (together[b, n:] == 3).all()  # after its stop id a finished row holds the stop id
    assert not torch.equal(
        sample_rows(model, prompts, 8, seeds=[21, 22, 23, 24]), sample_rows(model, prompts, 8, seeds=[11, 12, 13, 14])
    )


def test_sample_rows_draws_from_the_softmax_and_temperature_0_is_greedy():
    """Gumbel-max: the frequency of each first token over many seeds matches softmax(logits / temperature)."""
    model = tiny_gpt()
    prompt = torch.randint(0, 64, (1, 5), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        probs = F.softmax(model(prompt)[0, -1] / 1.5, -1)
    firsts = sample_rows(model, prompt.expand(4000, -1), 1, seeds=list(range(4000)), temperature=1.5)[:, 0]
    frequency = torch.bincount(firsts, minlength=64).float() / 4000
    assert (frequency - probs).abs().max() < 0.03  # ~4 standard errors of the likeliest token's frequency
    greedy = list(generate(model, prompt[0].tolist(), 6, temperature=0.0))
    assert sample_rows(model, prompt, 6, seeds=[0], temperature=0.0)[0].tolist() == greedy


def test_compiled_decoding_gives_the_eager_tokens_through_prefills_and_a_window_rebuild():
    """compile_for_decoding (dynamic shapes) decodes the same greedy tokens as the eager model: 40 tokens in a
    16-token window cross several cache rebuilds, so prefills of several lengths and single steps all run."""
    eager = tiny_gpt()
    compiled = compile_for_decoding(tiny_gpt())
    prompt = [3, 1, 4, 1, 5, 9]
    expected = list(generate(eager, prompt, 40, temperature=0.0))
    assert list(generate(compiled, prompt, 40, temperature=0.0)) == expected
    assert len(set(expected)) > 3  # not one token repeated: the context matters
