"""Encoder-decoder translation: the three models, additive attention, search, BLEU and the CLI."""

import pytest
import torch

from lmlab.cli import main
from lmlab.data.translation import Pair, split_pairs, translation_pairs
from lmlab.errors import LmlabError
from lmlab.eval.bleu import score
from lmlab.inference.beam_search import beam_search, greedy_decode
from lmlab.models.seq2seq import AdditiveAttention, Seq2SeqConfig, build_seq2seq
from lmlab.stages.translate import TranslateConfig, translate_train

torch.set_num_threads(1)
V, PAD, BOS, EOS = 30, 2, 0, 1


def tiny(model: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_seq2seq(Seq2SeqConfig(model=model, n_embd=16, n_head=2, dropout=0.0, vocab_size=V, pad_id=PAD)).eval()


@pytest.mark.parametrize("model", ["rnn", "rnn-attention", "transformer"])
def test_forward_shapes_and_padding_does_not_change_the_output(model):
    m = tiny(model)
    src = torch.randint(3, V, (2, 7))
    tgt = torch.randint(3, V, (2, 5))
    assert m(src, tgt).shape == (2, 5, V)
    padded = torch.cat([src, torch.full((2, 3), PAD)], 1)
    torch.testing.assert_close(m(padded, tgt), m(src, tgt), atol=1e-5, rtol=1e-4)


def test_attention_weights_sum_to_one_and_ignore_padding():
    att = AdditiveAttention(4, 6, 5)
    h = torch.randn(2, 7, 6)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[0, 4:] = False
    c, alpha = att(torch.randn(2, 4), att.U(h), h, mask)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2))
    assert (alpha[0, 4:] == 0).all() and c.shape == (2, 6)


@pytest.mark.parametrize("model", ["rnn", "rnn-attention", "transformer"])
def test_a_few_steps_reduce_the_loss_on_a_copy_task(model):
    m = tiny(model).train()
    src = torch.randint(3, V, (8, 6))
    tgt_in = torch.cat([torch.full((8, 1), BOS), src], 1)
    targets = torch.cat([src, torch.full((8, 1), EOS)], 1)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(m(src, tgt_in).reshape(-1, V), targets.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("model", ["rnn", "rnn-attention", "transformer"])
def test_beam_of_one_is_greedy(model):
    m = tiny(model)
    src = torch.randint(3, V, (1, 6))
    greedy = greedy_decode(m, src, BOS, EOS)[0]
    beam = beam_search(m, src, BOS, EOS, beam=1)
    assert beam.ids == greedy.ids
    assert len(beam_search(m, src, BOS, EOS, beam=3).ids) <= 2 * 6 + 10


def sequence_logp(m, src, ids: list[int]) -> float:
    """log p(ids, <|eos|> | src), teacher-forced."""
    tgt_in = torch.tensor([[BOS, *ids]])
    with torch.no_grad():
        logps = torch.log_softmax(m(src, tgt_in)[0].float(), -1)
    return float(sum(logps[k, t] for k, t in enumerate([*ids, EOS])))


@pytest.mark.parametrize("model", ["rnn", "rnn-attention", "transformer"])
def test_a_wider_beam_finds_translations_at_least_as_likely_as_greedy(model):
    """On a model partly trained to copy (40 steps), beam search without length normalisation (alpha 0) returns a
    translation at least as likely as greedy's on every source tried, and a likelier one on some. (On an untrained
    model it need not: the beam may drop greedy's prefix for ones that never finish.)"""
    m = tiny(model).train()
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(40):
        src = torch.randint(3, V, (16, 5), generator=g)
        tgt_in = torch.cat([torch.full((16, 1), BOS), src], 1)
        targets = torch.cat([src, torch.full((16, 1), EOS)], 1)
        loss = torch.nn.functional.cross_entropy(m(src, tgt_in).reshape(-1, V), targets.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    gains = []
    for seed in range(10):
        src = torch.randint(3, V, (1, 5), generator=torch.Generator().manual_seed(100 + seed))
        greedy = sequence_logp(m, src, greedy_decode(m, src, BOS, EOS)[0].ids)
        beam = beam_search(m, src, BOS, EOS, beam=4, alpha=0.0)
        gains.append(sequence_logp(m, src, beam.ids) - greedy)
    assert min(gains) >= -1e-4 and max(gains) > 1e-3, gains


def test_bleu_and_chrf_through_sacrebleu():
    refs = ["the cat is on the mat", "there is a cat here"]
    assert score(refs, refs)["bleu"] == pytest.approx(100.0)
    assert score(refs, refs)["chrf"] == pytest.approx(100.0)
    assert score(["the cat the cat", "nothing"], refs)["bleu"] < 20


def test_the_splits_do_not_overlap():
    for by in ("verse", "book"):
        split = translation_pairs(by)
        refs = {s: {p.reference for p in ps} for s, ps in split.items()}
        assert not refs["train"] & refs["test"] and not refs["train"] & refs["val"] and not refs["val"] & refs["test"]
        assert sum(map(len, split.values())) > 30000
    books = {s: {p.reference.rsplit(" ", 1)[0] for p in ps} for s, ps in translation_pairs("book").items()}
    assert not books["train"] & books["test"]
    with pytest.raises(LmlabError):
        split_pairs([Pair("Genesis 1:1", "a", "b")], by="chapter")


def test_train_translate_and_plot_through_the_cli(tmp_path, capsys):
    config = TranslateConfig.build(
        "tiny", overrides=dict(model="rnn-attention", progress=False, device="cpu", dtype="float32")
    )
    run = translate_train(config, out=tmp_path / "t")
    assert "bleu" in (run / "eval.json").read_text()
    png = tmp_path / "att.png"
    assert (
        main(["translate", str(run), "And God said", "--beam", "2", "--device", "cpu", "--plot-attention", str(png)])
        == 0
    )
    assert png.stat().st_size > 0
    # a translation run is not a language model, and a language model is not a translator
    assert main(["sample", str(run), "--max-new-tokens", "2"]) == 2
    assert (
        "holds an encoder-decoder translator (a translate run); this needs a causal language model"
        in capsys.readouterr().err
    )
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "config.yaml").write_text("lmlab_format: 2\nstage: pretrain\nmodel_kind: causal-lm\n")
    assert main(["translate", str(tmp_path / "lm"), "hello"]) == 2
    assert "this needs an encoder-decoder translator" in capsys.readouterr().err
    assert main(["translate-train", "--model", "lstm-attention", "--out", str(tmp_path / "x")]) == 2


def test_a_transformer_decoding_step_scores_only_the_last_position_and_matches_the_full_pass():
    """Greedy decoding reruns the target prefix each step; the step's logits are the full pass's last position."""
    torch.manual_seed(0)
    model = build_seq2seq(Seq2SeqConfig(model="transformer", vocab_size=50, n_embd=32, n_head=4, n_layer=2)).eval()
    src, tgt = torch.randint(4, 50, (3, 7)), torch.randint(4, 50, (3, 5))
    with torch.no_grad():
        state = model.encode(src)
        full = model.decode(state, tgt)
        last = model.decode(state, tgt, last_only=True)
        step, _, _ = model.step({**state, "ys": tgt[:, :-1]}, tgt[:, -1])
    assert last.shape == (3, 1, 50) and torch.allclose(last[:, 0], full[:, -1], atol=1e-5)
    assert torch.allclose(step, full[:, -1], atol=1e-5)
