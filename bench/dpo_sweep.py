"""DPO's reward/KL trade-off on controlled sentiment: a sweep of beta (and optionally lr and the loss), several seeds.

For each setting and seed, DPO trains from the SFT run on the preference pairs (lmlab.stages.dpo, its
defaults otherwise), then lmlab.eval.preference measures, on n prompts of the chosen split, the mean true
(VADER) reward, the win rate against the SFT model and the KL to it (nats per response, temperature-1
samples). Tune on --split dev, report on --split test (held out: no pair was built from those prompts).
Prints a table (mean and min-max over seeds) with the CPU and library versions, saves the JSON and a PNG of
reward against KL (the DPO paper's Fig. 2, left) in bench/results/<machine>/.

    python bench/dpo_sweep.py --sft RUN --pairs PAIRS [--betas 0.03,0.1,0.3,1] [--lrs 5e-4] [--loss sigmoid]
                              [--seeds 1337,1338,1339] [--n 256] [--split test] [--work DIR]
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from common import machine_info, save_result

from lmlab.eval.preference import evaluate_preference
from lmlab.experiments.report import plt
from lmlab.stages.dpo import DPOConfig, dpo


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sft", required=True, help="the SFT run (policy init and reference)")
    parser.add_argument("--pairs", required=True, help="sentiment pairs of that run (lmlab pairs --task sentiment)")
    parser.add_argument("--betas", default="0.03,0.1,0.3,1")
    parser.add_argument("--lrs", default="", help="learning rates (default: DPOConfig's)")
    parser.add_argument("--loss", default="sigmoid")
    parser.add_argument("--seeds", default="1337,1338,1339")
    parser.add_argument("--n", type=int, default=256, help="prompts evaluated per run")
    parser.add_argument("--split", default="test", choices=("dev", "test"))
    parser.add_argument("--work", help="folder for the DPO runs (default: a temporary folder)")
    parser.add_argument("--name", default="dpo_sweep", help="results file name")
    args = parser.parse_args()
    machine = machine_info()
    lrs = floats(args.lrs) or [DPOConfig().train.lr]
    seeds = [int(x) for x in args.seeds.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="dpo-sweep-"))
    print(f"cpu {machine['cpu']}, {machine['cpus']} cpus; torch {torch.__version__}; python {sys.version.split()[0]}")
    print(f"sft {args.sft}, pairs {args.pairs}, loss {args.loss}, {args.n} {args.split} prompts, seeds {seeds}")
    sft_eval = evaluate_preference(args.sft, "sentiment", n=args.n, split=args.split)
    print(f"SFT reward {sft_eval['reward']:.4f}")
    rows = []
    for lr in lrs:
        for beta in floats(args.betas):
            runs = []
            for seed in seeds:
                out = work / f"{args.loss}-lr{lr:g}-beta{beta:g}-seed{seed}"
                overrides = dict(loss=args.loss, beta=beta, lr=lr, seed=seed, progress=False)
                if not (out / "ckpt").is_dir():
                    dpo(DPOConfig.build(overrides=overrides), init=args.sft, data=args.pairs, out=out)
                result = evaluate_preference(out, "sentiment", n=args.n, seed=seed, split=args.split)
                runs.append({k: result[k] for k in ("reward", "win_rate", "kl")})
            row = {"lr": lr, "beta": beta, "runs": runs}
            for key in ("reward", "win_rate", "kl"):
                values = [r[key] for r in runs]
                row[key] = statistics.fmean(values)
                row[f"{key}_range"] = [min(values), max(values)]
            rows.append(row)
            (r0, r1), (w0, w1), (k0, k1) = row["reward_range"], row["win_rate_range"], row["kl_range"]
            print(
                f"lr {lr:<8g} beta {beta:<6g} reward {row['reward']:+.3f} [{r0:+.3f}, {r1:+.3f}]  "
                f"win rate {row['win_rate']:.1%} [{w0:.1%}, {w1:.1%}]  KL {row['kl']:.2f} [{k0:.2f}, {k1:.2f}]",
                flush=True,
            )
    result = {"machine": machine, "torch": torch.__version__, "args": vars(args), "sft_reward": sft_eval["reward"],
              "rows": rows}  # fmt: skip
    path = save_result(f"{args.name}_{args.split}", result)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot([0], [sft_eval["reward"]], "ks", label="SFT")
    for lr in lrs:
        points = [r for r in rows if r["lr"] == lr]
        below = [r["reward"] - r["reward_range"][0] for r in points]
        above = [r["reward_range"][1] - r["reward"] for r in points]
        ax.errorbar(
            [r["kl"] for r in points], [r["reward"] for r in points], yerr=[below, above],
            fmt="o-", capsize=3, label=f"DPO ({args.loss}), lr {lr:g}",
        )  # fmt: skip
        for r in points:
            ax.annotate(
                f"beta {r['beta']:g}", (r["kl"], r["reward"]), fontsize=7, xytext=(4, -8), textcoords="offset points"
            )
    ax.set(xlabel="KL(pi || pi_SFT), nats per response", ylabel="mean VADER reward",
           title=f"Controlled sentiment: reward vs KL ({args.split} prompts, {len(seeds)} seeds)")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = Path(path).with_suffix(".png")
    fig.savefig(png)
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
