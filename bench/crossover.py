"""Where, if anywhere, does the GPT overtake the RNN, LSTM and GRU? Validation bpb against budget and size.

    python bench/crossover.py   # the crossover preset: 25-400 s, 3 sizes at 50 s, 3 seeds (~90 min on 2 quiet cores)
    python bench/crossover.py --budgets 5,10 --sizes 64 --seeds 1   # a check in a minute

Runs section 1 of `lmlab compare` (lmlab.experiments.compare.language_models) with the `crossover` preset:
every (architecture, size, seed) is one constant-lr run evaluated at each budget it passes; a budget is steps
at the model's own speed, measured first with all cores and the architectures alternated round by round, so
the runs may train side by side (one thread each) and still train as long as one alone would. Prints the
environment, the bpb table (mean ± sd over seeds), the crossover points and tokens/s, writes crossover.png
and sizes.png to --out, and saves bench/results/<machine>/crossover.json.
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
    LM_ARCHS,
    CompareConfig,
    bpb_stats,
    crossover_point,
    language_models,
    lm_section,
    plot_crossover,
    plot_sizes,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", help="comma-separated seconds (default: the preset's 25,50,100,200,400)")
    parser.add_argument("--sizes", help="comma-separated GPT widths, main first (default: 128,64,256)")
    parser.add_argument("--size-budget", type=float, help="budget of the size comparison (default: 50)")
    parser.add_argument("--seeds", type=int, help="seeds per architecture and size (default: 3)")
    parser.add_argument("--workers", type=int, default=0, help="runs at once (default: one per core)")
    parser.add_argument("--seed", type=int, help="the first seed (default: 1337); another for a dev measurement")
    parser.add_argument("--name", default="crossover", help="the result's name under bench/results/<machine>/")
    parser.add_argument("--out", help="folder for the runs and plots (default: a temporary folder)")
    args = parser.parse_args()
    overrides = {k: v for k, v in vars(args).items() if v is not None and k not in ("out", "name")}
    cc = CompareConfig.build("crossover", None, overrides).compare
    info = environment("numpy")
    print_environment(info)
    out = Path(args.out or tempfile.mkdtemp(prefix="crossover-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    lm = language_models(cc, out, pick_device("auto"))
    minutes = (time.perf_counter() - t0) / 60
    lines = lm_section(lm, cc)
    print("\n".join(line for line in lines if not line.startswith("!")))
    plot_crossover(lm, out / "crossover.png")
    if len(lm["sizes"]) > 1:
        plot_sizes(lm, out / "sizes.png")
    width = lm["sizes"][0]
    table = {
        arch: {
            str(w): {str(b): bpb_stats(lm, arch, w, b) for b in lm["budgets"] if bpb_stats(lm, arch, w, b)}
            for w in lm["sizes"]
        }
        for arch in LM_ARCHS
    }
    points = {arch: crossover_point(lm, arch) for arch in LM_ARCHS[:3]}
    print(
        f"GPT (width {width}) overtakes: "
        + ", ".join(f"{a} from {p} s" if p else f"{a} never" for a, p in points.items())
    )
    print(f"{minutes:.1f} min; plots in {out}")
    result = {
        "environment": info,
        "settings": {
            k: getattr(cc, k)
            for k in ("sizes", "budgets", "size_budget", "seeds", "seed", "block_size", "batch_size", "workers")
        },
        "bpb_mean_sd_seeds": table,
        "crossover_from_s": points,
        "speed": lm["speed"],
        "params": {f"{r['arch']}/{r['width']}": r["params"] for r in lm["runs"]},
        "unigram_bpb": lm["unigram_bpb"],
        "minutes": minutes,
    }
    print("saved", save_result(args.name, result))


if __name__ == "__main__":
    main()
