"""The beyond-RNNs experiment: the recall task generator and a tiny end-to-end report."""

import numpy as np
import torch

from lmlab.data.recall import recall_batch
from lmlab.experiments.compare import CompareConfig, run_compare

torch.set_num_threads(1)


def test_recall_labels_are_the_value_after_the_key():
    n_filler, n_keys = 4, 3
    x, y = recall_batch(np.random.default_rng(0), 64, 20, [5, 9], n_filler, n_keys, 3)
    assert (y[:, :-1] == -100).all()
    for row, target in zip(x.tolist(), y[:, -1].tolist()):
        key = row[-1]
        assert n_filler <= key < n_filler + n_keys
        pos = row.index(key)  # the first occurrence of the key; the value follows it
        assert row[pos + 1] == target and 20 - 1 - (pos + 2) in (5, 9)
        assert all(t < n_filler for i, t in enumerate(row) if i not in (pos, pos + 1, 19))


def test_tiny_compare_writes_the_report(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 300)
    config = CompareConfig.build(overrides=dict(
        data=str(corpus), gpt_layers=1, gpt_width=32, block_size=32, lm_seconds=0.5, recall_distances="8,16",
        recall_seconds=0.5, recall_width=16, translate_seconds=0.5, translate_width=16, translate_vocab=300,
        translate_max_len=40, translate_pairs=100, bleu_sentences=10, batch_size=4, cache_dir=str(tmp_path / "cache"),
    ))  # fmt: skip
    out = run_compare(config, out=tmp_path / "cmp", device="cpu")
    report = (out / "report.md").read_text()
    for section in ("val bpb", "d=16", "rnn-attention", "BLEU long"):
        assert section in report
    for png in ("recall.png", "gradients.png", "bleu_length.png"):
        assert (out / png).stat().st_size > 0
