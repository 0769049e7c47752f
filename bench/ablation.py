"""An ablation at equal steps on the dev split of Tiny Shakespeare: rows of settings alternated round by round.

bench/shakespeare.py gives each configuration the same wall clock, which is what a user gets; but when rows run
one after another the machine's drift (~20% over minutes) changes how many steps a row trains, and with it the
loss. Here every row trains the same number of steps (the cosine decay over them), the rows alternate within each
round in rotating order, one seed per round, so a difference between rows is the change itself; each row's
steps/s is reported beside it (a change that slows the step costs that much wall clock).

Each row is the --preset (default: shakespeare-speedrun, with its clock budget off) plus KEY=VALUE overrides:

    python bench/ablation.py --data ../shared/data/tinyshakespeare.txt --steps 1100 \\
        --row "C speedrun" --row "H untied head" tie_embeddings=false [--seeds 3]
"""

import argparse
import statistics
import tempfile
from pathlib import Path

import yaml
from common import environment, print_environment, save_result
from shakespeare import fmt, lmlab_corpus, lmlab_pretrain, mean_range, split_text


def parse_rows(specs: list[list[str]]) -> dict[str, dict]:
    rows = {}
    for name, *pairs in specs:
        overrides = {}
        for kv in pairs:
            key, eq, value = kv.partition("=")
            if not eq:
                raise SystemExit(f"--row {name}: {kv!r} is not KEY=VALUE")
            overrides[key] = value
        rows[name] = overrides
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="tinyshakespeare.txt")
    ap.add_argument("--preset", default="shakespeare-speedrun")
    ap.add_argument("--row", nargs="+", action="append", required=True, metavar=("NAME", "KEY=VALUE"),
                    help="a row: its name, then the overrides of the preset (repeat --row for each row)")  # fmt: skip
    ap.add_argument("--steps", type=int, default=1100, help="optimizer steps of every row")
    ap.add_argument("--seeds", type=int, default=3, help="rounds, each row once per round with seed 1337+round")
    args = ap.parse_args()
    rows = parse_rows(args.row)
    info = environment()
    print_environment(info)
    train_text, eval_text = split_text(Path(args.data).read_text(encoding="utf-8"), "dev")
    print(f"dev split: train on {len(train_text):,} characters, evaluate on the next {len(eval_text):,}; "
          f"{args.steps} steps per row; rows: {', '.join(rows)}", flush=True)  # fmt: skip
    results = {name: [] for name in rows}
    with tempfile.TemporaryDirectory(prefix="ablation-bench-") as tmp:
        tmp = Path(tmp)
        corpus = lmlab_corpus(train_text, eval_text, tmp / "lmlab")
        names = list(rows)
        for k in range(args.seeds):
            for name in names[k % len(names) :] + names[: k % len(names)]:
                config = tmp / f"row{names.index(name)}.yaml"
                config.write_text(yaml.safe_dump(rows[name]))
                flags = ["--preset", args.preset, "--config", str(config), "--max-seconds", "0",
                         "--max-iters", str(args.steps), "--lr-decay-iters", str(args.steps),
                         "--eval-interval", str(10**9)]  # fmt: skip
                r = lmlab_pretrain(flags, corpus, tmp / f"{names.index(name)}-{k}", 1337 + k)
                r["steps_per_s"] = r["steps"] / r["train_s"]
                results[name].append(r)
                print(f"round {k + 1} seed {1337 + k} {name}: full dev loss {r['val_loss']:.4f}, "
                      f"{r['steps_per_s']:.1f} steps/s, {r['wall_s']:.1f} s", flush=True)  # fmt: skip
    print(f"\n{'row':32} {'full dev loss':>28} {'steps/s':>22}")
    summary = {}
    for name, rs in results.items():
        loss, speed = mean_range([r["val_loss"] for r in rs]), mean_range([r["steps_per_s"] for r in rs])
        summary[name] = {"val_loss": loss, "steps_per_s": speed, "overrides": rows[name]}
        print(f"{name:32} {fmt(loss, 4):>28} {fmt(speed, 1):>22}")
    first = names[0]
    for name in names[1:]:
        gaps = [b["val_loss"] - a["val_loss"] for a, b in zip(results[first], results[name])]
        summary[name]["minus_first_per_seed"] = gaps
        print(f"{name} - {first}, per seed: {', '.join(f'{g:+.4f}' for g in gaps)} "
              f"(mean {statistics.fmean(gaps):+.4f})")  # fmt: skip
    out = {"environment": info, "args": vars(args), "summary": summary, "rounds": results}
    print(f"saved {save_result('shakespeare_ablation_equal_steps', out)}")


if __name__ == "__main__":
    main()
