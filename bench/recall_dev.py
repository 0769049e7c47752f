"""Why section 2 of `lmlab compare` asks its MQAR queries with replacement and trains K = 1: measured on a dev seed.

    python bench/recall_dev.py [--seconds 60] [--seed 11]

Trains section 2's models (matched to the 2-layer width-64 GPT) on a dev seed under four settings and measures them
on dev rows (other generator seeds than the report's):
  lstm, distinct queries (the earlier task: each pair asked once) | lstm, queries with replacement (now) |
  rnn, curriculum from K = 2 (earlier) | rnn, curriculum with K = 1 (now).
For each: accuracy against the gap at K = 1, 2 and 8, and at K = 8 the accuracy of each query in turn at gaps 0 and
16 (a model that answers by elimination gets the last query right). Saves bench/results/<machine>/recall_dev.json.
"""

import argparse
import sys
from dataclasses import replace

import numpy as np
import torch
from common import environment, print_environment, save_result

from lmlab.data.recall import Vocab, mqar_batch, query_accuracy
from lmlab.experiments.compare.recall import queries, recall_logits, recall_model_config, train_recall
from lmlab.experiments.compare.settings import CompareSettings
from lmlab.models import build_model

SETTINGS = {
    "lstm, distinct queries": ("lstm", dict(recall_distinct_queries=True)),
    "lstm, queries with replacement": ("lstm", dict()),
    "rnn, curriculum from K = 2": ("rnn", dict(recall_train_k1=False)),
    "rnn, curriculum with K = 1": ("rnn", dict()),
}
GAPS = (0, 1, 2, 8, 16, 64)


@torch.no_grad()
def measure(model, cc: CompareSettings, vocab: Vocab) -> dict:
    out = {"by_gap": {}, "per_query": {}}
    for K in (1, 2, 8):
        out["by_gap"][K] = {}
        for gap in GAPS:
            Q = queries(K)
            rng = np.random.default_rng([99, K, gap])
            x, y, _ = mqar_batch(rng, 200, 2 * K + 2 * Q + gap + 4, K, gap, Q, vocab, cc.recall_distinct_queries)
            hits = query_accuracy(recall_logits(model, x, y), y).float()
            out["by_gap"][K][gap] = float(hits.mean())
            if K == 8 and gap in (0, 16):
                out["per_query"][gap] = hits.mean(0).tolist()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="training budget of each model")
    ap.add_argument("--seed", type=int, default=11, help="a dev seed (the report's models use 0)")
    args = ap.parse_args(argv)
    info = environment()
    print_environment(info)
    vocab, results = Vocab(), {}
    for name, (arch, overrides) in SETTINGS.items():
        cc = replace(CompareSettings(), recall_seconds=args.seconds, **overrides)
        torch.manual_seed(args.seed)
        model = build_model(recall_model_config(arch, cc, vocab))
        training = train_recall(model, cc, vocab, "cpu", seed=args.seed)
        results[name] = {**measure(model, cc, vocab), "steps": training["steps"]}
        gaps = results[name]["by_gap"]
        print(
            f"{name:<32} K=1 gap 0/8/64: {gaps[1][0]:.2f}/{gaps[1][8]:.2f}/{gaps[1][64]:.2f}  K=2 gap 8: "
            f"{gaps[2][8]:.2f}  K=8 gap 0/1/16: {gaps[8][0]:.2f}/{gaps[8][1]:.2f}/{gaps[8][16]:.2f}",
            flush=True,
        )
    command = f"python bench/recall_dev.py --seconds {args.seconds:g} --seed {args.seed}"
    print("saved", save_result("recall_dev", {**info, "command": command, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
