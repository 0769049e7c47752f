"""The beyond-RNNs experiment: the MQAR generator, BLEU by length, the "did not learn" rule, a tiny report."""

import json

import numpy as np
import pytest
import torch

from lmlab.data.recall import IGNORE, Vocab, mqar_batch, query_accuracy, values_only_accuracy
from lmlab.data.translation import Pair, concatenate, passage_pairs, passages
from lmlab.errors import LmlabError
from lmlab.eval.bleu import scores_by_length
from lmlab.experiments.compare import CompareConfig, crossover_point, learned, run_compare

torch.set_num_threads(1)


@pytest.mark.parametrize("pairs,gap,queries", [(1, 0, 1), (8, 0, 8), (8, 40, 3), (64, 5, 16)])
def test_mqar_rows_hold_distinct_keys_answerable_queries_and_the_requested_gap(pairs, gap, queries):
    """Queries are keys of the row's pairs, drawn with replacement."""
    vocab = Vocab(n_filler=5, n_keys=64, n_values=10)
    length = 2 * pairs + gap + 2 * queries + 7
    x, y, distances = mqar_batch(np.random.default_rng(0), 50, length, pairs, gap, queries, vocab)
    assert x.shape == y.shape == (50, length) and distances.shape == (50, queries)
    is_key = (x >= vocab.n_filler) & (x < vocab.n_filler + vocab.n_keys)
    for row, target, dist in zip(x.tolist(), y.tolist(), distances.tolist()):
        start = length - 2 * queries - gap - 2 * pairs
        keys, values = row[start : start + 2 * pairs : 2], row[start + 1 : start + 2 * pairs : 2]
        assert len(set(keys)) == pairs  # keys distinct within the row: every query has one answer
        assert all(vocab.n_filler + vocab.n_keys <= v < vocab.size for v in values)
        assert all(t < vocab.n_filler for t in row[:start] + row[start + 2 * pairs : length - 2 * queries])
        answer = dict(zip(keys, values))
        query_positions = [i for i, t in enumerate(target) if t != IGNORE]
        assert len(query_positions) == queries
        for j, i in enumerate(query_positions):
            key = row[i]
            assert target[i] == answer[key] == row[i + 1]  # the query's value, teacher-forced next
            assert dist[j] == i - (start + 2 * keys.index(key))  # distance from its key among the pairs
            assert dist[j] >= gap + 2 * (pairs - keys.index(key)) + 2 * j  # at least the gap away
    assert int(is_key.sum()) == 50 * (pairs + queries)  # keys appear only in the pairs and the queries


def test_mqar_refuses_rows_that_do_not_fit():
    with pytest.raises(ValueError, match="need"):
        mqar_batch(np.random.default_rng(0), 2, 20, 8, 4, 4)
    with pytest.raises(ValueError, match="distinct keys"):
        mqar_batch(np.random.default_rng(0), 2, 400, 200, 0, 4)


def test_query_accuracy_and_the_values_only_baseline():
    x, y, _ = mqar_batch(np.random.default_rng(1), 4, 30, 4, 2, 3)
    perfect = torch.nn.functional.one_hot(y.clamp(min=0), Vocab().size).float()
    assert query_accuracy(perfect, y).all()
    assert query_accuracy(perfect[y != IGNORE], y).shape == (4, 3)
    assert values_only_accuracy(8) == pytest.approx(1 / 8)


def test_mqar_queries_leave_no_shortcut_by_elimination():
    """A model that knows the row's values but not their keys, answering each query among the values not yet
    asked, would score 100% on the last query were every pair asked once; with queries drawn with replacement it
    scores about 1/K there, as on any query."""
    K, rows = 8, 2000
    vocab = Vocab()
    x, y, _ = mqar_batch(np.random.default_rng(3), rows, 4 * K + 4, K, 2, K, vocab)
    start = 4
    pairs_values = x[:, start + 1 : start + 2 * K : 2]
    query_positions = (y[0] != IGNORE).nonzero().flatten()
    asked_before = x[:, query_positions[:-1] + 1]
    last_target = y[:, query_positions[-1]]
    rng = np.random.default_rng(0)
    hits = 0
    for values, before, target in zip(pairs_values.tolist(), asked_before.tolist(), last_target.tolist()):
        left = [v for v in values if v not in before] or values
        hits += int(left[rng.integers(len(left))] == target)
    assert hits / rows < 0.2, hits / rows  # about 1/K, far from the 100% that one query per pair would give
    assert len({tuple(row) for row in x[:, query_positions].tolist()}) > 1
    repeats = sum(len(set(row)) < K for row in x[:, query_positions].tolist())
    assert repeats > 0.9 * rows  # with replacement, K draws of K keys almost always repeat one


def test_bleu_by_length_scores_each_bucket_on_its_own_sentences():
    refs = ["the cat sat on the mat today", "a dog ran in the park at noon", "birds sing in the early morning light"]
    hyps = [refs[0], "zzz qqq xxx www", refs[2]]
    buckets = scores_by_length(hyps, refs, [5, 15, 25], (0, 10, 20, 30, 40))
    assert [b["sentences"] for b in buckets] == [1, 1, 1, 0]
    assert buckets[0]["bleu"] == pytest.approx(100.0) and buckets[2]["bleu"] == pytest.approx(100.0)
    assert buckets[1]["bleu"] < 1 and buckets[1]["chrf"] < 10
    assert buckets[3]["bleu"] is None  # an empty bucket is not a zero
    with pytest.raises(ValueError, match="lengths"):
        scores_by_length(hyps, refs, [1, 2], (0, 10))


def test_passages_keep_consecutive_verses_together():
    pairs = [Pair(f"Book 1:{v}", f"s{v}", f"t{v}") for v in range(1, 8)]
    groups = [g for split in passages(pairs).values() for g in split]
    assert sorted(len(g) for g in groups) == [1, 3, 3]  # verses 1-3, 4-6, 7
    by_n = passage_pairs(groups, (1, 2, 3))
    assert len(by_n[3]) == 2 and len(by_n[1]) == 3
    assert concatenate(pairs[:3]) == Pair("Book 1:1-3", "s1 s2 s3", "t1 t2 t3")


def test_the_did_not_learn_rule():
    assert learned("lm", 2.0, baseline=4.4) and not learned("lm", 4.1, baseline=4.4)
    assert learned("recall", 0.95) and not learned("recall", 0.5)  # at K = 1 a model that trained scores ~100%
    assert learned("translation", 12.0) and not learned("translation", 0.5)


def test_crossover_point_is_where_the_gpt_stays_ahead():
    def runs(arch, values):
        return [{"arch": arch, "width": 64, "seed": 0, "bpb": dict(zip((10, 20, 40), values))}]

    lm = {"sizes": (64,), "budgets": (10, 20, 40)}
    lm["runs"] = runs("gpt", (3.0, 2.0, 1.5)) + runs("rnn", (2.5, 2.1, 1.9)) + runs("gru", (2.0, 1.9, 1.4))
    assert crossover_point(lm, "rnn") == 20
    assert crossover_point(lm, "gru") is None


def test_tiny_compare_writes_the_report(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 300)
    config = CompareConfig.build(overrides=dict(
        data=str(corpus), gpt_layers=1, sizes="32", budgets="1,2", seeds=1, workers=1, block_size=32,
        recall_pairs="1,4", recall_gaps="0,8", recall_gap_pairs=4, recall_pairs_gap=2, recall_length=40,
        recall_seconds=0.5, recall_width=16, translate_seconds=0.5, translate_width=16, translate_vocab=300,
        translate_max_len=40, translate_pairs=40, bleu_sentences=4, length_edges="0,20,40,400", batch_size=4,
        smoke_test=True,
        cache_dir=str(tmp_path / "cache"),
    ))  # fmt: skip
    out = run_compare(config, out=tmp_path / "cmp", device="cpu")
    report = (out / "report.md").read_text()
    for section in ("Smoke test", "## 1. The crossover", "K=4", "gap 8", "rnn-attention", "3 verses", "Verdict"):
        assert section in report
    assert report.count("**Claim.**") == 5 and report.count("**Verdict:**") == 5
    assert "did not learn" in report  # sub-second models: the rule names them instead of comparing them
    for png in ("crossover.png", "recall.png", "gradients.png", "bleu_length.png", "context.png"):
        assert (out / png).stat().st_size > 0
    results = json.loads((out / "results.json").read_text())
    assert {r["arch"] for r in results["lm"]["runs"]} == {"rnn", "lstm", "gru", "gpt"}
    assert set(results["recall"]["gpt"]["by_pairs"]) == {"1", "4"}


def test_bad_settings_name_the_field(tmp_path):
    config = CompareConfig.build(overrides=dict(budgets="10,15"))
    with pytest.raises(LmlabError, match="budgets"):
        run_compare(config, out=tmp_path / "x", device="cpu")


def test_the_recall_gpt_forms_its_lookup_in_seconds():
    """Section 2 relies on it: the 2-layer GPT (PyTorch's default init) learns MQAR at K = 2..4 in 2,000 steps."""
    from lmlab.experiments.compare import CompareSettings, recall_logits, recall_model_config
    from lmlab.losses import cross_entropy
    from lmlab.models import build_model

    vocab = Vocab(n_filler=16, n_keys=64, n_values=64)
    torch.manual_seed(0)
    model = build_model(recall_model_config("gpt", CompareSettings(recall_length=64), vocab))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    rng = np.random.default_rng(0)
    for step in range(2000):
        K, gap = int(rng.choice([2, 4])), int(rng.integers(0, 5))
        x, y, _ = mqar_batch(rng, 32, 4 * K + gap + int(rng.integers(0, 8)), K, gap, K, vocab)
        loss = cross_entropy(recall_logits(model, x, y), y[y != IGNORE])
        (loss.sum / loss.n).backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        x, y, _ = mqar_batch(np.random.default_rng(1), 200, 24, 4, 4, 4, vocab)
        accuracy = query_accuracy(recall_logits(model, x, y), y).float().mean().item()
    assert accuracy >= 0.95, accuracy  # guessing among the values not yet asked scores elimination_accuracy(4, 4)


def test_a_bad_from_run_is_refused_before_any_training(tmp_path):
    config = CompareConfig.build(overrides=dict(senses_run=str(tmp_path / "no-such-run")))
    with pytest.raises(LmlabError, match=r"compare.senses_run \(--from\)"):
        run_compare(config, out=tmp_path / "x", device="cpu")
    assert not (tmp_path / "x").exists()
