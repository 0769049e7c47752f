"""Stage 3's quality and time figures, from one SFT run: pairs, reward model, DPO, and DPO on correctness pairs.

1. Controlled sentiment with the defaults of `lmlab run`: the time of pairs + reward model + DPO, the reward
   model's held-out pairwise accuracy (one reward model per seed), and DPO's mean VADER reward, win rate against
   the SFT model and KL to it on the held-out test prompts (one DPO run per seed).
2. Correctness pairs (lmlab pairs --task tasks): greedy exact match on 200 held-out test instances of each task,
   SFT against DPO (lr 5e-5, 300 steps) without and with the chosen response's NLL (--rpo-alpha 1), per seed.
The beta sweep is bench/dpo_sweep.py, the speed against TRL bench/dpo_throughput.py. Prints the CPU and
versions with the results and saves the JSON in bench/results/<machine>/preferences.json.

    python bench/preferences.py --sft RUN [--seeds 1337,1338,1339] [--work DIR] [--skip-correctness]
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

from lmlab.data.preference_tasks import CORRECTNESS_TASKS
from lmlab.eval.preference import evaluate_preference
from lmlab.eval.task_accuracy import task_accuracy
from lmlab.stages.dpo import DPOConfig, dpo
from lmlab.stages.pairs import PairsConfig, build_pairs
from lmlab.stages.reward import RewardConfig, reward

QUIET = {"progress": False}


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t


def sentiment(sft: str, work: Path, seeds: list[int], n: int) -> dict:
    pairs, t_pairs = timed(build_pairs, PairsConfig.build(overrides={**QUIET, "init": sft}), out=work / "pairs")
    rows = []
    for seed in seeds:
        overrides = {**QUIET, "seed": seed}
        rm, t_rm = timed(reward, RewardConfig.build(overrides=overrides), init=sft, data=pairs, out=work / f"rm-{seed}")
        policy, t_dpo = timed(dpo, DPOConfig.build(overrides=overrides), init=sft, data=pairs, out=work / f"dpo-{seed}")
        accuracy = float(json.loads((rm / "eval.json").read_text())["val_accuracy"])
        result = evaluate_preference(policy, "sentiment", n=n)
        rows.append({"seed": seed, "reward_model_accuracy": accuracy, "dpo_reward": result["reward"],
                     "win_rate": result["win_rate"], "kl": result["kl"], "sft_reward": result["against_reward"],
                     "seconds": {"pairs": t_pairs, "reward": t_rm, "dpo": t_dpo}})  # fmt: skip
        print(
            f"seed {seed}: reward model {accuracy:.1%} held out; DPO reward {result['reward']:+.3f} (SFT "
            f"{result['against_reward']:+.3f}), win rate {result['win_rate']:.1%}, KL {result['kl']:.1f} nats; "
            f"pairs {t_pairs:.0f} s + reward {t_rm:.0f} s + DPO {t_dpo:.0f} s = {(t_pairs + t_rm + t_dpo) / 60:.1f} "
            "min",
            flush=True,
        )
    for key in ("reward_model_accuracy", "win_rate", "kl", "dpo_reward"):
        values = [r[key] for r in rows]
        print(f"  {key}: mean {statistics.fmean(values):.4g}, min {min(values):.4g}, max {max(values):.4g}")
    return {"pairs": str(pairs), "rows": rows}


def correctness(sft: str, work: Path, seeds: list[int]) -> dict:
    pairs = build_pairs(PairsConfig.build(overrides={**QUIET, "init": sft, "task": "tasks"}), out=work / "pairs-tasks")
    accuracy = {"SFT": task_accuracy(sft, CORRECTNESS_TASKS, 200)}
    for seed in seeds:
        for alpha in (0.0, 1.0):
            overrides = {**QUIET, "seed": seed, "lr": 5e-5, "max_iters": 300, "rpo_alpha": alpha}
            name = f"DPO{' + RPO' if alpha else ''} seed {seed}"
            run = dpo(
                DPOConfig.build(overrides=overrides), init=sft, data=pairs, out=work / f"dpo-tasks-{alpha}-{seed}"
            )
            accuracy[name] = task_accuracy(run, CORRECTNESS_TASKS, 200)
    print("exact match, greedy, 200 held-out instances per task")
    print(f"{'':<22}" + "".join(f"{t:>17}" for t in CORRECTNESS_TASKS))
    for name, row in accuracy.items():
        print(f"{name:<22}" + "".join(f"{row[t]:>17.1%}" for t in CORRECTNESS_TASKS), flush=True)
    return accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sft", required=True, help="the SFT run (e.g. RUN/sft of lmlab run)")
    parser.add_argument("--seeds", default="1337,1338,1339")
    parser.add_argument("--n", type=int, default=256, help="held-out sentiment prompts")
    parser.add_argument("--work", help="folder for the runs (default: a temporary folder)")
    parser.add_argument("--skip-correctness", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="preferences-"))
    machine = machine_info()
    print(f"cpu {machine['cpu']}, {machine['cpus']} cpus; torch {torch.__version__}; python {sys.version.split()[0]}")
    print(f"sft {args.sft}; seeds {seeds}; runs in {work}")
    results = {"machine": machine, "torch": torch.__version__, "args": vars(args)}
    results["sentiment"] = sentiment(args.sft, work, seeds, args.n)
    if not args.skip_correctness:
        results["correctness"] = correctness(args.sft, work, seeds)
    print(f"saved {save_result('preferences', results)}")


if __name__ == "__main__":
    main()
