"""BLEU and chrF against source length, Bahdanau et al. (2015) Fig. 2 style: rnn vs rnn-attention vs transformer.

    python bench/translation_length.py                 # section 4 of `lmlab compare` at its defaults (~8 min, 2 cores)
    python bench/translation_length.py --translate-seconds 10 --bleu-sentences 20   # a check

Runs lmlab.experiments.compare.translation_models: each model trains for the same seconds on single KJV -> WEB
verses (or the mixture --translate-train-verses names), then translates test passages of 1, 2 and 3 consecutive
verses; prints the environment and the section's tables and verdict, writes bleu_length.png to --out and saves
bench/results/<machine>/translation_length.json.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, print_environment, save_result  # noqa: E402

from lmlab.device import pick_device  # noqa: E402
from lmlab.experiments.compare import (  # noqa: E402
    SEQ2SEQ_MODELS,
    CompareConfig,
    plot_bleu_by_length,
    translation_models,
    translation_section,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--translate-seconds", type=float, help="training seconds per model (default 100)")
    parser.add_argument("--translate-train-verses", help="verses per training example (default 1)")
    parser.add_argument("--bleu-sentences", type=int, help="test passages per number of verses (default 100)")
    parser.add_argument("--out", help="folder for the runs and the plot (default: a temporary folder)")
    args = parser.parse_args()
    overrides = {k: v for k, v in vars(args).items() if v is not None and k != "out"}
    cc = CompareConfig.build(None, None, overrides).compare
    info = environment("sacrebleu")
    print_environment(info)
    out = Path(args.out or tempfile.mkdtemp(prefix="translation-length-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tr = translation_models(cc, out, pick_device("auto"))
    minutes = (time.perf_counter() - t0) / 60
    print("\n".join(line for line in translation_section(tr) if not line.startswith("!")))
    plot_bleu_by_length(tr, out / "bleu_length.png")
    print(f"{minutes:.1f} min; plot in {out}")
    keep = ("bleu", "chrf", "steps", "by_length", "by_verses")
    result = {
        "environment": info,
        "settings": {k: getattr(cc, k) for k in ("translate_seconds", "translate_train_verses", "bleu_sentences")},
        "models": {m: {k: tr[m][k] for k in keep} for m in SEQ2SEQ_MODELS},
        "minutes": minutes,
    }
    print("saved", save_result("translation_length", result))


if __name__ == "__main__":
    main()
