"""Arithmetic with and without the calculator (issue 31, part 1): the same pre-trained model fine-tuned on the default
chat data twice, as it is (the drills answered directly) and with `--tools` (the arithmetic drills answered through
the calculator, half of them rephrased), 3 seeds, the two sides alternating within each seed (the order rotating).

Each fine-tuned model answers the held-out instances of add_3d, add_4d (4-digit addition), mul_2x2 (two 2-digit
numbers) and tool_phrasings (3-digit addition, subtraction and 2x2 multiplication asked in phrasings no training data
uses) greedily, the calculator in the loop (lmlab.eval.task_accuracy.tool_use). Reported per seed and as median
[min, max]: exact-match accuracy, the share of replies that call the calculator and the share of calls it computed
(parsed). Every SFT run has lmlab run's settings (1,700 steps of the chat mixture; `lmlab sft --init RUN/pretrain`).

    python bench/tools.py --pretrain RUN/pretrain [--seeds 1337,1338,1339] [--n 200] [--work DIR]   # ~65 min
    python bench/tools.py --pretrain RUN/pretrain --seeds 1 --max-iters 20 --n 4                   # checks the script
A run whose folder in --work already holds a finished SFT run is measured, not trained again.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import environment, print_environment, save_result
from common import spread_present as summary

from lmlab.eval.task_accuracy import tool_use
from lmlab.runs import load_run
from lmlab.stages.sft import SFTConfig, sft

TASKS = ("add_3d", "add_4d", "mul_2x2", "tool_phrasings")
SIDES = ("tool", "direct")


def fine_tune(side: str, pretrain: Path, seed: int, max_iters: int | None, out: Path) -> tuple[Path, float]:
    if (out / "model.safetensors").is_file() and (out / "metrics.jsonl").is_file():
        return out, float("nan")
    overrides = {"seed": seed, "progress": False, "tools": side == "tool"}
    if max_iters:
        overrides.update(max_iters=max_iters, eval_interval=max_iters, warmup_iters=min(50, max_iters // 2))
    start = time.perf_counter()
    run = sft(SFTConfig.build(overrides=overrides), init=pretrain, out=out)
    return run, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrain", required=True, help="a pre-trained run whose tokenizer has the tool tokens")
    parser.add_argument("--seeds", default="1337,1338,1339")
    parser.add_argument("--n", type=int, default=200, help="held-out instances a task")
    parser.add_argument("--max-iters", type=int, help="SFT steps (default: lmlab sft's, as lmlab run)")
    parser.add_argument("--work", help="folder for the runs (default: a temporary one)")
    args = parser.parse_args()
    info = {**environment(), "python": sys.version.split()[0]}
    print_environment(info)
    pretrain, work = Path(args.pretrain), Path(args.work or tempfile.mkdtemp(prefix="bench-tools-"))
    seeds = [int(s) for s in args.seeds.split(",")]
    per_seed = {side: [] for side in SIDES}
    for k, seed in enumerate(seeds):
        for side in SIDES[k % 2 :] + SIDES[: k % 2]:
            run, seconds = fine_tune(side, pretrain, seed, args.max_iters, work / f"{side}-{seed}")
            loaded = load_run(run, "cpu")
            figures = tool_use(loaded.model, loaded.tokenizer, TASKS, args.n)
            last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
            per_seed[side].append({"seed": seed, "sft_s": seconds, "steps": last["step"], "tasks": figures})
            print(f"seed {seed} {side:>6}: " + ", ".join(
                f"{name} {f['accuracy']:.3f} (called {f['called']:.2f}, parsed {f['parsed'] or 0:.2f})"
                for name, f in figures.items()), flush=True)  # fmt: skip
    result = {
        "machine": info, "pretrain": str(pretrain.resolve()), "n": args.n, "max_iters": args.max_iters,
        "tasks": list(TASKS), "per_seed": per_seed,
        "summary": {side: {name: {key: summary([r["tasks"][name][key] for r in rows])
                                  for key in ("accuracy", "called", "parsed")} for name in TASKS}
                    for side, rows in per_seed.items()},
    }  # fmt: skip
    print(json.dumps(result["summary"], indent=1))
    print(f"saved {save_result('tools', result)}")


if __name__ == "__main__":
    main()
