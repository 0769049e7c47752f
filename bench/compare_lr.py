"""The learning rate of each language model in `lmlab compare`, chosen by measurement: every
architecture at its matched width, trained for the same seconds at each peak lr, val bits per byte.

    python bench/compare_lr.py [--archs rnn lstm gru gpt] [--lrs 1e-3 2e-3 4e-3 8e-3] [--seconds 100]

Prints one row per (architecture, lr) and the best lr of each; CompareSettings.lr_<arch> hold the winners.
"""

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from lmlab.device import pick_device
from lmlab.experiments.compare import LM_ARCHS, CompareSettings, language_models


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", nargs="+", default=list(LM_ARCHS), choices=LM_ARCHS)
    ap.add_argument("--lrs", nargs="+", type=float, default=[1e-3, 2e-3, 4e-3, 8e-3])
    ap.add_argument("--seconds", type=float, default=CompareSettings().lm_seconds)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = pick_device(args.device)
    best = {}
    print(f"{'arch':6} {'lr':>8} {'steps':>6} {'val bpb':>8} {'tok/s':>8}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs:
            for lr in args.lrs:
                cc = replace(CompareSettings(), lm_seconds=args.seconds, **{f"lr_{arch}": lr})
                r = language_models(cc, Path(tmp) / f"{arch}-{lr:g}", device, archs=(arch,))[arch]
                print(f"{arch:6} {lr:8.0e} {r['steps']:6d} {r['val_bpb']:8.3f} {r['tokens_per_s']:8.0f}", flush=True)
                if arch not in best or r["val_bpb"] < best[arch][1]:
                    best[arch] = (lr, r["val_bpb"])
    print("best: " + ", ".join(f"{a} lr {lr:g} (val bpb {bpb:.3f})" for a, (lr, bpb) in best.items()))


if __name__ == "__main__":
    main()
