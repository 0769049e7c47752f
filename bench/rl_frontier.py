"""Stage 3b's PPO figures against DPO: runs `lmlab frontier` from an SFT run (or reads a finished frontier folder) and
prints, with the CPU and versions, each point's true reward and KL, PPO's gain over SFT against DPO's at the
defaults, the val/ratio range and clip fraction of every PPO run, the rollout throughput (generated tokens/s) and
the share of step time spent collecting rollouts, and the time of each run. Saves bench/results/<machine>/
rl_frontier.json.

    python bench/rl_frontier.py --sft RUN/sft [--out DIR]      # ~15 min on 2 cores
    python bench/rl_frontier.py --from DIR                     # the figures of a finished `lmlab frontier --out DIR`
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from common import machine_info, save_result

from lmlab.experiments.frontier import FrontierConfig, run_frontier
from lmlab.experiments.report import read_metrics


def ppo_figures(run: Path) -> dict:
    records = read_metrics(run)
    ratios = [r["val/ratio"] for r in records]
    return {
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "clipfrac_median": statistics.median(r["policy/clipfrac_avg"] for r in records),
        "rollout_tokens_per_s": statistics.median(r["rollout/tokens_per_s"] for r in records),
        "rollout_share": statistics.median(r["time/rollout_share"] for r in records[1:] or records),
        "response_length": statistics.median(r["rollout/response_length"] for r in records),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sft", help="run `lmlab frontier` from this SFT run")
    source.add_argument("--from", dest="folder", help="a finished `lmlab frontier` folder")
    parser.add_argument("--out", help="the frontier folder to write (with --sft)")
    args = parser.parse_args()
    info = {**machine_info(), "torch": torch.__version__, "threads": torch.get_num_threads(), "python": sys.version}
    print(json.dumps(info), flush=True)
    folder = Path(args.folder) if args.folder else None
    if folder is None:
        t = time.perf_counter()
        config = FrontierConfig.build(overrides={"init": args.sft})
        folder = run_frontier(config, out=args.out, progress=False)
        print(f"lmlab frontier: {(time.perf_counter() - t) / 60:.1f} min", flush=True)
    result = json.loads((folder / "frontier.json").read_text())
    sft = result["sft"]["reward"]
    print(f"\nSFT reward {sft:.3f}; minutes in all: {result['minutes']:.1f}")
    print(f"{'point':<34}{'reward':>8}{'KL':>8}{'win':>8}{'seconds':>9}")
    for p in result["points"]:
        seconds = result["timings_s"].get(f"{p['method']} {p['setting']}".replace("DPO ", "dpo "), float("nan"))
        win = f"{p['win_rate']:.1%}" if "win_rate" in p else ""
        print(f"{p['method'] + ', ' + p['setting']:<34}{p['reward']:>8.3f}{p['kl']:>8.2f}{win:>8}{seconds:>9.0f}")
    figures = {}
    for p in result["points"]:
        if p["method"].startswith("PPO"):
            figures[f"{p['method']}, {p['setting']}"] = ppo_figures(folder / Path(p["run"]).name)  # runs lie in it
    print(f"\n{'PPO run':<34}{'ratio min':>10}{'max':>7}{'clip':>7}{'tok/s':>8}{'share':>7}{'length':>8}")
    for name, f in figures.items():
        print(f"{name:<34}{f['ratio_min']:>10.3f}{f['ratio_max']:>7.3f}{f['clipfrac_median']:>7.3f}"
              f"{f['rollout_tokens_per_s']:>8.0f}{f['rollout_share']:>7.0%}{f['response_length']:>8.1f}")  # fmt: skip
    default = {p["method"] + p["setting"]: p for p in result["points"]}
    ppo, dpo = default.get("PPO (reward model)beta=0.05"), default.get("DPObeta=0.1")
    if ppo and dpo:
        print(f"\nat the defaults: PPO gain {ppo['reward'] - sft:+.3f} at KL {ppo['kl']:.1f}; "
              f"DPO gain {dpo['reward'] - sft:+.3f} at KL {dpo['kl']:.1f}")  # fmt: skip
    path = save_result("rl_frontier", {"machine": info, "frontier": result, "ppo_runs": figures})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
