"""GRPO (and RLOO, Dr. GRPO, DAPO) on the verifiable task suite: greedy exact match of every graded task before and
after, the time of the run, and the rollout figures (generated tokens/s, the share of step time spent sampling).

With --pass-at K, also the SFT model's sampled accuracy and pass@K (K samples at temperature 1, any correct) per
task: what GRPO, which reinforces answers the model already samples, can reach at most from those instances.

Tune with --split dev (held-out instances 201-400 of each task, unseen by SFT like the reported ones); report with
--split test (the first 200 held-out instances, as `lmlab eval --tasks`). One GRPO run per seed.

    python bench/grpo_tasks.py --sft RUN [--seeds 1337,1338,1339] [--split test] [--work DIR] [--set key=value ...]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import machine_info, save_result

from lmlab.data.tasks import grade
from lmlab.eval.task_accuracy import dev_examples, task_accuracy
from lmlab.inference.generate import sample_responses
from lmlab.runs import load_run
from lmlab.stages.grpo import GRPOConfig, grpo

# Every task graded by exact match (chatterbot small talk has no single right answer).
TASKS = ("add_1d", "add_2d", "add_3d", "add_4d", "sub", "mul", "spell", "count_letter", "reverse_word", "sort_list",
         "max_list", "verse_text", "verse_reference")  # fmt: skip


def value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def pass_at(run: str, tasks: list[str], n: int, k: int, split: str) -> dict:
    """{task: (mean sampled accuracy, pass@k)} over n instances of the split, k samples each at temperature 1."""
    from lmlab.data.tasks import test_examples

    model, tokenizer, _ = load_run(run)
    result = {}
    for name in tasks:
        examples = (dev_examples if split == "dev" else test_examples)(name, n)
        prompts = [[{"role": "user", "content": p}] for p, _ in examples]
        texts = sample_responses(model, tokenizer, prompts, 16, seed=0, samples=k)[2]
        right = torch.tensor([grade(t, examples[i // k][1]) for i, t in enumerate(texts)], dtype=torch.float)
        right = right.view(-1, k)
        result[name] = (float(right.mean()), float((right.sum(1) > 0).float().mean()))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sft", required=True, help="the SFT run GRPO starts from")
    parser.add_argument("--seeds", default="1337,1338,1339")
    parser.add_argument("--split", default="test", choices=("dev", "test"))
    parser.add_argument("--n", type=int, default=200, help="instances per task")
    parser.add_argument("--tasks", default=",".join(TASKS), help="the tasks to measure (default: every graded task)")
    parser.add_argument("--work", help="folder for the runs (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a GRPO setting")
    parser.add_argument("--name", default="grpo_tasks", help="results file name")
    parser.add_argument("--pass-at", type=int, default=0, metavar="K", help="also the SFT model's pass@K per task")
    args = parser.parse_args()
    overrides = {k: value(v) for k, v in (item.split("=", 1) for item in args.set)}
    work = Path(args.work or tempfile.mkdtemp(prefix="grpo-bench-"))
    info = {**machine_info(), "torch": torch.__version__, "threads": torch.get_num_threads(), "python": sys.version}
    print(json.dumps(info), flush=True)
    tasks = args.tasks.split(",")
    before = task_accuracy(args.sft, tasks, args.n, split=args.split)
    ceiling = pass_at(args.sft, tasks, args.n, args.pass_at, args.split) if args.pass_at else {}
    for name, (mean, any_right) in ceiling.items():
        print(f"SFT {name}: sampled accuracy {mean:.1%}, pass@{args.pass_at} {any_right:.1%}", flush=True)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        t = time.perf_counter()
        run = grpo(GRPOConfig.build(overrides={"progress": False, "seed": seed, **overrides}), init=args.sft,
                   out=work / f"grpo-{seed}")  # fmt: skip
        seconds = time.perf_counter() - t
        after = task_accuracy(run, tasks, args.n, split=args.split)
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        rows.append({
            "seed": seed, "seconds": seconds, "accuracy": after,
            "rollout_tokens_per_s": statistics.median(r["rollout/tokens_per_s"] for r in records),
            "rollout_share": statistics.median(r["time/rollout_share"] for r in records[1:] or records),
            "final_kl": records[-1]["objective/kl"],
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'task':<16}{'SFT':>8}" + "".join(f"{'seed ' + str(r['seed']):>11}" for r in rows) + f"{'mean':>9}")
    for name in tasks:
        values = [r["accuracy"][name] for r in rows]
        cells = "".join(f"{v:>11.1%}" for v in values)
        print(f"{name:<16}{before[name]:>8.1%}{cells}{statistics.fmean(values):>9.1%}")
    print(f"time: {statistics.median(r['seconds'] for r in rows):.0f} s per run (median); rollout tokens/s "
          f"{statistics.median(r['rollout_tokens_per_s'] for r in rows):.0f}; sampling share of step time "
          f"{statistics.median(r['rollout_share'] for r in rows):.0%}")  # fmt: skip
    result = {"machine": info, "settings": overrides, "split": args.split, "n": args.n, "sft": args.sft,
              "sft_accuracy": before, "sft_pass_at": ceiling, "runs": rows}  # fmt: skip
    path = save_result(args.name, result)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
