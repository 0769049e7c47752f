"""Inside the model: attention maps, a word in context, the logit lens (lmlab.inspect), and `lmlab inspect`."""

import math

import pytest
import torch
import torch.nn.functional as F
import yaml

from lmlab.cli import main
from lmlab.errors import LmlabError
from lmlab.inspect.attention import attention_weights, head_summary, inspect_attention
from lmlab.inspect.context import BANK, context_similarity
from lmlab.inspect.lens import lens_distributions, logit_lens
from lmlab.inspect.text import tokenize, word_positions
from lmlab.inspect.trace import trace
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.tokenizer import train_bpe, train_char

SENTENCES = [*BANK[1], "The bank was closed on Sunday", "We walked along the bank of the stream"]


@pytest.fixture(scope="module")
def chars():
    return train_char(SENTENCES)


def tiny(vocab_size: int, **kw):
    cfg = dict(n_layer=2, n_head=4, n_embd=32, block_size=48, vocab_size=vocab_size)
    return build_model(ModelConfig(**{**cfg, **kw})).eval()


def ids_of(tokenizer, text: str) -> torch.Tensor:
    return torch.tensor([tokenizer.encode(text)])


GPT_OPTIONS = {
    "learned": dict(pos_encoding="learned"),
    "sinusoidal": dict(pos_encoding="sinusoidal", norm="rmsnorm"),
    "rope+qk_norm+gqa": dict(pos_encoding="rope", qk_norm=True, n_kv_head=2, norm="rmsnorm", mlp="swiglu"),
}


# ---- attention ---------------------------------------------------------------------------------
@pytest.mark.parametrize("options", GPT_OPTIONS.values(), ids=GPT_OPTIONS.keys())
def test_attention_rows_sum_to_one_and_are_zero_above_the_diagonal(chars, options):
    model = tiny(chars.vocab_size, **options)
    weights = attention_weights(model, ids_of(chars, SENTENCES[0]))
    L, nh, T, _ = weights.shape
    assert (L, nh) == (2, 4) and T == len(SENTENCES[0])
    assert torch.allclose(weights.sum(-1), torch.ones(L, nh, T), atol=1e-6)
    assert (weights.triu(diagonal=1) == 0).all()
    assert (weights[..., torch.ones(T, T, dtype=torch.bool).tril()] > 0).all()  # every allowed key gets some


@pytest.mark.parametrize("options", GPT_OPTIONS.values(), ids=GPT_OPTIONS.keys())
def test_recomputed_weights_reproduce_each_attention_layers_output(chars, options):
    """softmax(q k^T / sqrt(hs)) made here, times the layer's values, is what the layer's fast path computed."""
    model = tiny(chars.vocab_size, **options)
    idx = ids_of(chars, SENTENCES[1])
    outputs = []
    hooks = [block.attn.register_forward_hook(lambda m, args, out: outputs.append(out)) for block in model.h]
    weights = attention_weights(model, idx)  # (L, nh, T, T)
    for h in hooks:
        h.remove()
    for layer, (block, (x, _)) in enumerate(zip(model.h, trace(model, idx).attention_inputs)):
        attn = block.attn
        B, T, C = x.shape
        hs, nkv = attn.head_size, attn.n_kv_head
        v = attn.c_attn(x).split([C, nkv * hs, nkv * hs], dim=2)[2].view(B, T, nkv, hs).transpose(1, 2)
        v = v.repeat_interleave(attn.n_head // nkv, dim=1)  # (B, nh, T, hs)
        y = (weights[layer : layer + 1] @ v).transpose(1, 2).reshape(B, T, C)
        assert (attn.c_proj(y) - outputs[layer]).abs().max().item() < 1e-5


@pytest.mark.parametrize("model_type", ["gpt2", "llama"])
def test_attention_of_an_imported_run_is_that_of_transformers(tmp_path, model_type):
    """An independent implementation: transformers' eager attention (Llama: GQA, another RoPE base, biases)."""
    transformers = pytest.importorskip("transformers")
    from test_huggingface import save_hf_model  # a tiny random GPT-2 or Llama folder

    from lmlab.interop.huggingface import import_hf
    from lmlab.runs import load_run

    n_tokens = save_hf_model(tmp_path / "hf", model_type)
    model, _, _ = load_run(import_hf(tmp_path / "hf", tmp_path / "run"))
    reference = transformers.AutoModelForCausalLM.from_pretrained(
        str(tmp_path / "hf"), dtype=torch.float32, attn_implementation="eager"
    ).eval()
    idx = torch.randint(n_tokens, (1, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = torch.cat(reference(idx, output_attentions=True).attentions)  # (n_layer, nh, T, T)
    assert (attention_weights(model, idx) - expected).abs().max().item() < 1e-5


def test_inspection_leaves_logits_unchanged(chars):
    model = tiny(chars.vocab_size, **GPT_OPTIONS["rope+qk_norm+gqa"])
    idx = ids_of(chars, SENTENCES[0])
    with torch.no_grad():
        before = model(idx)
    recorded = trace(model, idx)
    attention_weights(model, idx)
    list(lens_distributions(model, idx))
    with torch.no_grad():
        after = model(idx)
    assert (recorded.logits - before).abs().max().item() < 1e-6
    assert (after - before).abs().max().item() < 1e-6
    assert not any(block._forward_pre_hooks or block.attn._forward_hooks for block in model.h)  # hooks removed


def test_head_summary_matches_hand_computed_numbers():
    previous = torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 1, 0]])  # always the token before
    uniform = torch.tensor([[1.0, 0, 0], [1 / 2, 1 / 2, 0], [1 / 3, 1 / 3, 1 / 3]])
    first, second = head_summary(torch.stack([previous, uniform])[None])  # one layer, two heads
    # Query rows 1 and 2 only: row 0 can only attend to itself.
    assert first["distance"] == pytest.approx(1.0) and first["entropy"] == pytest.approx(0.0)
    assert first["previous"] == pytest.approx(1.0) and first["first"] == pytest.approx(0.5)
    assert first["itself"] == pytest.approx(0.0) and first["looks at"] == "previous token"
    assert second["distance"] == pytest.approx((1 / 2 + (2 + 1) / 3) / 2)
    assert second["entropy"] == pytest.approx((1 + math.log2(3)) / 2)
    for key in ("first", "previous", "itself"):
        assert second[key] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert second["looks at"] == ""  # 42% at most anywhere: no one place named
    assert (second["layer"], second["head"]) == (1, 2)


# ---- context ---------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [dict(pos_encoding="rope"), dict(arch="lstm"), dict(arch="gru")])
def test_embedding_similarity_of_one_token_is_one_without_added_positions(chars, options):
    """RoPE rotates q and k inside attention and a recurrence has no positions: the embedding is the token's own."""
    model = tiny(chars.vocab_size, **options)
    result = context_similarity(model, chars, *BANK)
    assert result.positions[0] != result.positions[1]  # the word sits at different positions
    assert result.similarity[0, 0].item() == pytest.approx(1.0, abs=1e-6)
    assert result.similarity.shape == (model.config.n_layer + 1, 1)
    assert result.layers == ["embedding", "layer 1", "layer 2"]


@pytest.mark.parametrize("encoding", ["learned", "sinusoidal"])
def test_embedding_similarity_with_added_positions_is_that_of_token_plus_position(chars, encoding):
    model = tiny(chars.vocab_size, pos_encoding=encoding)
    result = context_similarity(model, chars, *BANK)
    (i,), (j,) = ([p[-1]] for p in result.positions)  # the last token of "bank" ("k") in each sentence
    position = model.wpe.weight if encoding == "learned" else model.pe
    token = model.wte.weight[chars.encode("k")[0]]
    expected = F.cosine_similarity(token + position[i], token + position[j], dim=0)
    assert i != j and result.similarity[0, 0].item() == pytest.approx(expected.item(), abs=1e-6)
    assert result.similarity[0, 0].item() < 0.999
    assert encoding in result.position_note
    same_place = context_similarity(model, chars, "bank", ["I sat on the bank", "I put in the bank"])
    assert same_place.positions[0] == same_place.positions[1]  # the same position: the same embedding
    assert same_place.similarity[0, 0].item() == pytest.approx(1.0, abs=1e-6)


def test_a_word_of_several_tokens_is_its_last_token_or_the_mean(chars):
    model = tiny(chars.vocab_size, pos_encoding="rope")
    sentences = BANK[1]
    hidden = [trace(model, ids_of(chars, s)).hidden for s in sentences]  # n_layers x (1, T, C) each
    at = [[sentences[k].index("bank") + i for i in range(4)] for k in range(2)]  # one character a token
    for pool in ("last", "mean"):
        result = context_similarity(model, chars, "bank", sentences, pool=pool)
        assert result.positions == at and result.word_tokens[0] == ["b", "a", "n", "k"]
        for layer in range(3):
            a, b = (hidden[k][layer][0, at[k]] for k in range(2))  # (4, C)
            a, b = (a[-1], b[-1]) if pool == "last" else (a.mean(0), b.mean(0))
            expected = F.cosine_similarity(a, b, dim=0).item()
            assert result.similarity[layer, 0].item() == pytest.approx(expected, abs=1e-6)


def test_word_positions_take_a_bpe_token_with_its_space_and_only_whole_words():
    tokenizer = train_bpe(SENTENCES * 50 + ["the banker and the banks"] * 5, 300)
    tokens = tokenize(tokenizer, "the banker sat on the bank", 64)
    positions = word_positions(tokens, "bank")
    spelled = "".join(tokenizer.decode([tokens.ids[p]]) for p in positions)
    assert spelled.strip() == "bank" and positions[0] > 2  # the second "bank", not the start of "banker"
    with pytest.raises(LmlabError, match="not in"):
        word_positions(tokens, "Bank")  # case-sensitive


def test_three_sentences_give_every_pair(chars):
    result = context_similarity(tiny(chars.vocab_size), chars, "bank", SENTENCES[:3])
    assert result.pairs == [(0, 1), (0, 2), (1, 2)] and result.similarity.shape == (3, 3)


# ---- the logit lens ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options", [dict(pos_encoding="learned"), dict(pos_encoding="rope", norm="rmsnorm", logit_softcap=5.0)]
)
def test_lens_on_the_last_layer_is_the_models_own_distribution(chars, options):
    model = tiny(chars.vocab_size, **options)
    idx = ids_of(chars, SENTENCES[0])
    lens = list(lens_distributions(model, idx))
    with torch.no_grad():
        own = F.softmax(model(idx).float(), dim=-1)[0]
    assert len(lens) == model.config.n_layer + 1
    assert torch.equal(lens[-1], own)
    assert torch.allclose(lens[0].sum(-1), torch.ones(idx.size(1)))


def test_lens_scores_the_true_next_token(chars):
    model = tiny(chars.vocab_size)
    tokens = tokenize(chars, SENTENCES[0], 48)
    result = logit_lens(model, chars, tokens, top_k=2)
    idx = torch.tensor([tokens.ids])
    own = list(lens_distributions(model, idx))[-1]
    expected = own[torch.arange(len(tokens.ids) - 1), idx[0, 1:]]
    assert torch.equal(result.correct[-1], expected)
    assert len(result.top) == 3 and len(result.top[0]) == len(tokens.ids) and len(result.top[0][0]) == 2
    assert torch.equal(result.hit[-1], own[:-1].argmax(-1) == idx[0, 1:])


# ---- recurrent models --------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_recurrent_layers_one_at_a_time_reproduce_the_model(chars, arch):
    model = tiny(chars.vocab_size, arch=arch, hidden_size=24)
    idx = ids_of(chars, SENTENCES[0])
    recorded = trace(model, idx)
    with torch.no_grad():
        own = model(idx)
    assert [h.size(-1) for h in recorded.hidden] == [32, 24, 24]
    assert (recorded.logits - own).abs().max().item() < 1e-5


def test_a_recurrent_model_has_no_attention_and_no_lens(chars):
    model = tiny(chars.vocab_size, arch="lstm")
    with pytest.raises(LmlabError, match="no attention"):
        attention_weights(model, ids_of(chars, SENTENCES[0]))
    with pytest.raises(LmlabError, match="residual stream"):
        list(lens_distributions(model, ids_of(chars, SENTENCES[0])))


# ---- text -----------------------------------------------------------------------------------
def test_a_text_longer_than_the_context_keeps_its_last_block(chars, capsys):
    tokens = tokenize(chars, SENTENCES[0] * 3, 16)
    assert tokens.ids == chars.encode(SENTENCES[0] * 3)[-16:] and tokens.dropped == len(SENTENCES[0]) * 3 - 16
    assert "cut to its last 16 tokens" in capsys.readouterr().err
    assert "".join(tokens.labels) == (SENTENCES[0] * 3)[-16:].replace(" ", "␣")  # spaces shown
    with pytest.raises(LmlabError, match="empty"):
        tokenize(chars, "  \n", 16)
    cut = tokenize(chars, "the bank was on the river bank", 16)
    assert word_positions(cut, "bank") == [12, 13, 14, 15]  # the first "bank" was cut: the last one counts
    with pytest.raises(LmlabError, match="cut to fit the context"):
        word_positions(tokenize(chars, "the bank was on the river", 16), "bank")


# ---- the command line and the reports ----------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny GPT (learned positions) and a tiny LSTM, pre-trained for a few steps on sentences with "bank"."""
    from lmlab.stages.pretrain import PretrainConfig, pretrain

    root = tmp_path_factory.mktemp("inspect-runs")
    (root / "corpus.txt").write_text("\n".join(SENTENCES * 40) + "\n")
    common = dict(data=str(root / "corpus.txt"), max_iters=4, dtype="float32", progress=False, block_size=48)
    return {
        arch: pretrain(PretrainConfig.build("tiny", overrides={**common, "arch": arch}), out=root / arch)
        for arch in ("gpt", "lstm")
    }


def run_error(argv, capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lmlab: error:") and err.count("\n") == 1
    return err


def test_inspect_commands_write_plots_tables_and_one_index(runs, tmp_path, capsys):
    out, run = tmp_path / "inside", str(runs["gpt"])
    assert main(["inspect", "attention", run, SENTENCES[0], "--out", str(out), "--device", "cpu"]) == 0
    assert "| layer | head | mean distance" in capsys.readouterr().out
    assert main(["inspect", "context", run, "--word", "bank", *SENTENCES[:3], "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| embedding | 1.0000 |" not in printed  # learned positions: not 1 at different positions
    assert "| layer | 1 vs 2 | 1 vs 3 | 2 vs 3 |" in printed and "learned" in printed
    assert main(["inspect", "lens", run, SENTENCES[1], "--out", str(out), "--top-k", "2"]) == 0
    assert "| pos | token | next | embedding | layer 1 | layer 2 |" in capsys.readouterr().out
    assert main(["inspect", "attention", run, SENTENCES[1], "--out", str(out)]) == 0  # replaces its section
    index = (out / "index.md").read_text()
    assert [line for line in index.splitlines() if line.startswith("## ")] == ["## attention", "## context", "## lens"]
    assert f"over {len(SENTENCES[1])} tokens" in index
    for png in ("attention_layer1.png", "attention_layer2.png", "context.png", "lens.png"):
        assert (out / png).stat().st_size > 0 and png in index


def test_inspect_on_a_recurrent_run(runs, tmp_path, capsys):
    run = str(runs["lstm"])
    assert main(["inspect", "context", run, "--word", "bank", *BANK[1], "--out", str(tmp_path)]) == 0
    assert "| embedding | 1.0000 |" in capsys.readouterr().out  # no positions in a recurrence
    assert "no attention" in run_error(["inspect", "attention", run, SENTENCES[0], "--out", str(tmp_path)], capsys)
    assert "residual stream" in run_error(["inspect", "lens", run, SENTENCES[0], "--out", str(tmp_path)], capsys)


def test_bad_input_is_one_line_and_exit_code_2(runs, tmp_path, capsys):
    run, out = str(runs["gpt"]), ["--out", str(tmp_path / "x")]
    assert "empty" in run_error(["inspect", "attention", run, "", *out], capsys)
    assert "empty" in run_error(["inspect", "lens", run, " ", *out], capsys)
    assert "is not in sentence 2" in run_error(["inspect", "context", run, "--word", "river", *BANK[1], *out], capsys)
    assert "two or more" in run_error(["inspect", "context", run, "--word", "bank", BANK[1][0], *out], capsys)
    reward = tmp_path / "reward"
    reward.mkdir()
    for f in ("tokenizer.json", "model.safetensors"):
        (reward / f).write_bytes((runs["gpt"] / f).read_bytes())
    record = yaml.safe_load((runs["gpt"] / "config.yaml").read_text())
    (reward / "config.yaml").write_text(yaml.safe_dump({**record, "model_kind": "reward-model", "stage": "reward"}))
    assert "needs a causal language model" in run_error(["inspect", "lens", str(reward), "text", *out], capsys)
    capsys.readouterr()
    assert main(["inspect", "lens", run, SENTENCES[0] * 3, *out]) == 0  # cut, not refused
    assert "cut to its last 48 tokens" in capsys.readouterr().err


def test_run_report_section_inside_the_model(runs, tmp_path):
    from lmlab.experiments.pipeline import INSIDE_TEXT, inside_the_model

    section, results = inside_the_model(runs["gpt"], tmp_path / "inside", "cpu")
    text = "\n".join(section)
    assert text.startswith("## Inside the model") and "| pos | token | next |" in text
    for image in [line[line.index("(") + 1 : -1] for line in section if line.startswith("![")]:
        assert (tmp_path / image).is_file()
    assert set(results["bank_similarity"]) == {"embedding", "layer 1", "layer 2"}
    summary = inspect_attention(runs["gpt"], INSIDE_TEXT, tmp_path / "again", "cpu").summary
    assert results["previous_token_head"] == max(summary, key=lambda h: h["previous"])  # the most previous-token head
    assert f"{results['previous_token_head']['previous']:.0%} of its attention" in text
