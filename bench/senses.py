"""The sense test (lmlab.inspect.senses) on any causal-LM runs: same-sense against cross-sense similarity of five
words in two senses, by layer, with an exact permutation test.

    python bench/senses.py RUN [RUN ...] [--name senses]

`lmlab compare` runs it on its four character-level models (section 5); this runs it on any run, e.g. `lmlab run`'s
RUN/pretrain, which knows the words. Prints one row per (run, word) and saves every layer's numbers to
bench/results/<machine>/NAME.json.
"""

import argparse
import sys
from pathlib import Path

from common import environment, print_environment, save_result

from lmlab.data.senses import read_senses
from lmlab.device import pick_device
from lmlab.inspect.senses import sense_separation
from lmlab.runs import load_run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="RUN")
    ap.add_argument("--name", default="senses", help="the result's file name under bench/results/<machine>/")
    args = ap.parse_args(argv)
    info = environment()
    print_environment(info)
    device = pick_device("auto")
    words = read_senses()
    results = {}
    print(f"{'run':<28} {'word':<6} {'mix emb→last':>14} {'within-across (best layer)':>28} {'p':>6}")
    for run in args.runs:
        model, tokenizer, _ = load_run(run, device)
        name = str(Path(run).resolve().relative_to(Path(run).resolve().parent.parent))
        rows = []
        for s in words:
            r = sense_separation(model, tokenizer, s)
            b = r.best_layer
            print(f"{name:<28} {r.word:<6} {r.mixing[0]:>6.3f} → {r.mixing[-1]:.3f} "
                  f"{r.gap[b]:>+10.3f} ± {r.null_sd[b]:.3f} ({r.layers[b]}) {r.p:>6.3f}")  # fmt: skip
            rows.append(r.record())
        results[name] = {"arch": model.config.arch, "params": sum(p.numel() for p in model.parameters()),
                         "tokenizer_vocab": tokenizer.vocab_size, "words": rows}  # fmt: skip
    command = "python bench/senses.py " + " ".join(args.runs)
    print("saved", save_result(args.name, {**info, "command": command, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
