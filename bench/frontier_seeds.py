"""The reward/KL frontier over seeds, with and without length control (issue 32): does PPO beat DPO, or only say less?

For each seed s, `lmlab frontier` from one SFT run (pairs, reward model, 4 DPO betas, 3 PPO KL coefficients with the
reward model and with the true reward, best-of-2..16; training seed 1337 + s, evaluation seed s), then the same
trained runs measured again at a fixed length (`--runs-from`, `--fixed-length`: every response 24 tokens, the stop
token never drawn, for every policy, the SFT model and best-of-N). Prints and saves, per point, the median and
[min, max] over seeds of the reward, the KL per response and per token, the length and the fluency (the SFT model's
log-likelihood of the responses per token); draws both frontiers with the seeds' range as error bars; and states the
verdict per seed from the frontiers themselves:
- the KL each method needs to reach the best DPO point's reward (and the best PPO-RM point's), read off the method's
  frontier (its points with the SFT point at KL 0, the running best reward, linear between points); None if never;
- each method's reward on that frontier at a few KL values both reach.
Saves bench/results/<machine>/frontier_seeds.json and the two PNGs beside it.

    python bench/frontier_seeds.py --sft RUN/sft --out DIR [--seeds 0,1,2]   # ~20 min a seed on 2 cores
A seed whose folder already holds a finished frontier is read, not run again (so an interrupted bench resumes).
"""

import argparse
import json
import sys
import time
from pathlib import Path

from common import environment, print_environment, save_result
from common import spread_present as summary

from lmlab.experiments.frontier import FrontierConfig, plot_frontier, run_frontier

FIGURES = ("reward", "kl", "kl_per_token", "length_mean", "length_at_limit", "ref_logp_per_token", "win_rate")
METHODS = ("DPO", "PPO (reward model)", "PPO (true reward)", "best-of-N")
KL_GRID = {"kl": (2.0, 5.0, 10.0, 15.0, 20.0), "kl_per_token": (0.1, 0.25, 0.5, 0.75)}


def frontier(folder: Path, overrides: dict) -> dict:
    record = folder / "frontier.json"
    if record.is_file():
        done = json.loads(record.read_text())
        if done.get("train_seed") == overrides.get("train_seed", done.get("train_seed")):
            print(f"{folder}: finished earlier, read", flush=True)
            return done
    t = time.perf_counter()
    run_frontier(FrontierConfig.build(overrides=overrides), out=folder, progress=False)
    print(f"{folder}: {(time.perf_counter() - t) / 60:.1f} min", flush=True)
    return json.loads(record.read_text())


def envelope(points: list[dict], sft_reward: float, key: str) -> list[tuple[float, float]]:
    """A method's frontier: (KL, best reward at that KL or less), from the SFT point at KL 0 through its points."""
    best, line = sft_reward, [(0.0, sft_reward)]
    for p in sorted(points, key=lambda p: p[key]):
        best = max(best, p["reward"])
        line.append((p[key], best))
    return line


def kl_to_reach(line: list[tuple[float, float]], reward: float) -> float | None:
    """The least KL at which the frontier reaches `reward`, linear between its points; None if it never does."""
    for (k0, r0), (k1, r1) in zip(line, line[1:]):
        if r1 >= reward:
            return k0 if r0 >= reward else k0 + (k1 - k0) * (reward - r0) / (r1 - r0)
    return None


def reward_at(line: list[tuple[float, float]], kl: float) -> float | None:
    """The frontier's reward at `kl`, linear between its points; None beyond its last point."""
    for (k0, r0), (k1, r1) in zip(line, line[1:]):
        if k0 <= kl <= k1:
            return r0 if k1 == k0 else r0 + (r1 - r0) * (kl - k0) / (k1 - k0)
    return None


def verdict(result: dict) -> dict:
    """One seed's comparison of the methods on its frontier (module docstring)."""
    sft = result["sft"]["reward"]
    by = {m: [p for p in result["points"] if p["method"] == m] for m in METHODS}
    out = {}
    for key in ("kl", "kl_per_token"):
        lines = {m: envelope(by[m], sft, key) for m in METHODS if by[m]}
        targets = {f"best {m}": max(by[m], key=lambda p: p["reward"]) for m in ("DPO", "PPO (reward model)")}
        out[key] = {
            "to_reach": {
                name: {"reward": t["reward"], "its_kl": t[key], **{m: kl_to_reach(line, t["reward"])
                                                                   for m, line in lines.items()}}
                for name, t in targets.items()
            },
            "reward_at": {f"{x:g}": {m: reward_at(line, x) for m, line in lines.items()} for x in KL_GRID[key]},
        }  # fmt: skip
    return out


def aggregate(results: list[dict]) -> dict:
    """Per point (method, setting): median and [min, max] over seeds of every figure; the same for the SFT point."""
    points = []
    for i, p in enumerate(results[0]["points"]):
        same = [r["points"][i] for r in results]
        assert all((q["method"], q["setting"]) == (p["method"], p["setting"]) for q in same)
        points.append({"method": p["method"], "setting": p["setting"],
                       **{k: summary([q.get(k) for q in same]) for k in FIGURES}})  # fmt: skip
    sft = {k: summary([r["sft"].get(k) for r in results]) for k in ("reward", "length_mean", "ref_logp_per_token")}
    return {"sft": sft, "points": points}


def plotted(agg: dict) -> list[dict]:
    """The aggregated points as plot_frontier draws them: the medians, with the seeds' range as KEY_lo and KEY_hi."""
    out = []
    for p in agg["points"]:
        flat = {"method": p["method"], "setting": p["setting"]}
        for k in ("reward", "kl", "kl_per_token", "length_mean"):
            flat[k], flat[f"{k}_lo"], flat[f"{k}_hi"] = p[k]["median"], p[k]["min"], p[k]["max"]
        flat["reward_sem"] = 0.0
        out.append(flat)
    return out


def show(agg: dict, title: str):
    def cell(s, digits=3):
        return "-" if s is None else f"{s['median']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"

    print(f"\n{title}")
    print(f"{'point':<32}{'reward':>24}{'KL/response':>24}{'KL/token':>24}{'length':>20}{'SFT loglik/tok':>26}")
    s = agg["sft"]
    print(f"{'SFT':<32}{cell(s['reward']):>24}{'':>24}{'':>24}{cell(s['length_mean'], 1):>20}"
          f"{cell(s['ref_logp_per_token']):>26}")  # fmt: skip
    for p in agg["points"]:
        name, fluency = f"{p['method']}, {p['setting']}", cell(p["ref_logp_per_token"])
        print(f"{name:<32}{cell(p['reward']):>24}{cell(p['kl'], 2):>24}{cell(p['kl_per_token']):>24}"
              f"{cell(p['length_mean'], 1):>20}{fluency:>26}")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sft", required=True, help="the SFT run every frontier starts from")
    parser.add_argument("--out", required=True, help="folder of the frontiers (one per seed and length mode)")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    info = {**environment(), "python": sys.version.split()[0]}
    print_environment(info)
    root, seeds = Path(args.out), [int(s) for s in args.seeds.split(",")]
    free, fixed = [], []
    for s in seeds:
        common = {"init": args.sft, "seed": s, "train_seed": 1337 + s}
        free.append(frontier(root / f"seed{s}", common))
        fixed.append(frontier(root / f"seed{s}-fixed", {**common, "fixed_length": True,
                                                        "runs_from": str(root / f"seed{s}")}))  # fmt: skip
    modes = {"free": free, "fixed": fixed}
    result = {"machine": info, "sft": str(Path(args.sft).resolve()), "seeds": seeds, "modes": {}}
    for mode, results in modes.items():
        agg = aggregate(results)
        show(agg, f"{mode} length: median [min, max] over seeds {seeds}")
        result["modes"][mode] = {"aggregate": agg, "verdicts": [verdict(r) for r in results], "per_seed": results}
        for s, v in zip(seeds, result["modes"][mode]["verdicts"]):
            for name, t in v["kl"]["to_reach"].items():
                reached = ", ".join(f"{m} {'never' if k is None else f'{k:.1f}'}" for m, k in t.items()
                                    if m in METHODS)  # fmt: skip
                print(f"  seed {s}: KL per response to reach {name} ({t['reward']:.3f} at {t['its_kl']:.1f}): "
                      f"{reached}")  # fmt: skip
    path = Path(save_result("frontier_seeds", result))
    for mode in modes:
        agg = result["modes"][mode]["aggregate"]
        title = f"{'fixed length (24 tokens)' if mode == 'fixed' else 'free length'}; median and range of seeds {seeds}"
        plot_frontier(plotted(agg), agg["sft"]["reward"]["median"], path.parent / f"frontier_seeds_{mode}.png", title)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
