"""A mixture of experts against the dense model at equal active parameters and equal wall clock (issue 31, part 2).

Both sides pre-train `lmlab run`'s model (PretrainConfig's cpu-small: 4 x 256, SwiGLU, BPE 4,096, the built-in
corpus) for the same number of seconds (`--seconds`, the cosine decay following the clock), with cpu-small's
learning rate. The dense side has one SwiGLU MLP of hidden width 704 a block; the MoE side 8 experts of width 352, 2
a token (`--moe-experts 8 --moe-top-k 2 --moe-hidden 352`): the same parameters per token (plus the router's 8 x
256), four times the MLP parameters in all. The sides alternate within each seed (the order rotating), so the
machine's drift lands on both. Each side in its best setting: the dense model compiled (cpu-small's default), the
MoE eager (its per-expert token counts change every step, so a compiled graph recompiles). Reported per seed and as
median [min, max]: held-out bits per byte at the end (`--eval-iters` batches of the validation split), training
tokens/s (median over the logged steps), the steps taken, and for MoE the expert load at the end (the busiest
expert's share times 8, averaged over layers: 1 is balanced) and the share of tokens dropped (0: dropless).

    python bench/moe.py [--seeds 1337,1338,1339] [--seconds 180] [--work DIR]     # ~20 min on 2 cores
    python bench/moe.py --seeds 1 --seconds 10 --eval-iters 2                     # checks the script in a minute
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import environment, print_environment, save_result
from common import spread as summary

from lmlab.runs import load_run
from lmlab.stages.pretrain import PretrainConfig, pretrain

SIDES = {"dense": {}, "moe": {"moe_experts": 8, "moe_top_k": 2, "moe_hidden": 352}}


def train(side: str, seed: int, seconds: float, eval_iters: int, compile_: bool, out: Path) -> dict:
    overrides = {**SIDES[side], "seed": seed, "max_iters": 10**9, "max_seconds": seconds, "lr_decay_iters": 0,
                 "eval_interval": 10**9, "eval_iters": eval_iters, "progress": False, "compile": compile_}  # fmt: skip
    start = time.perf_counter()
    run = pretrain(PretrainConfig.build("cpu-small", overrides=overrides), out=out)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = records[-1]
    model = load_run(run).model
    figures = {
        "val_bpb": last["val_bpb"],
        "val_loss": last["val_loss"],
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in records[1:] if "tokens_per_s" in r),
        "steps": last["step"],
        "wall_s": wall,
        "params": model.num_params(),
        "active_params": model.num_params(active=True),
    }
    if side == "moe":
        keys = ("moe/load_max", "moe/dropped", "moe/aux_loss", "moe/z_loss")
        figures.update({k.split("/")[1]: last[k] for k in keys})
        figures["load_max_median"] = statistics.median(r["moe/load_max"] for r in records if "moe/load_max" in r)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1337,1338,1339")
    parser.add_argument("--seconds", type=float, default=180.0, help="training seconds a run (both sides)")
    parser.add_argument("--eval-iters", type=int, default=50, help="validation batches of the final bits per byte")
    parser.add_argument("--no-compile", action="store_true", help="the dense side eager too (cpu-small compiles it)")
    parser.add_argument(
        "--compile-moe",
        action="store_true",
        help="compile the MoE side too (its per-expert token "
        "counts change every step: recompilations; eager was faster in a short check)",
    )
    parser.add_argument("--work", help="folder for the runs (default: a temporary one)")
    args = parser.parse_args()
    info = {**environment(), "python": sys.version.split()[0]}
    print_environment(info)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-moe-"))
    seeds = [int(s) for s in args.seeds.split(",")]
    per_seed = {side: [] for side in SIDES}
    for k, seed in enumerate(seeds):
        order = list(SIDES)[k % 2 :] + list(SIDES)[: k % 2]
        for side in order:
            compiled = args.compile_moe if side == "moe" else not args.no_compile
            figures = train(side, seed, args.seconds, args.eval_iters, compiled, work / f"{side}-{seed}")
            per_seed[side].append({"seed": seed, **figures})
            print(f"seed {seed} {side:>5}: " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()), flush=True)
    keys = ("val_bpb", "tokens_per_s", "steps", "active_params", "params")
    result = {
        "machine": info, "seconds": args.seconds, "eval_iters": args.eval_iters,
        "compile": {"dense": not args.no_compile, "moe": args.compile_moe},
        "sides": SIDES, "per_seed": per_seed,
        "summary": {side: {k: summary([r[k] for r in rows]) for k in keys} for side, rows in per_seed.items()},
    }  # fmt: skip
    result["summary"]["moe"].update({k: summary([r[k] for r in per_seed["moe"]]) for k in ("load_max", "dropped")})
    gaps = [m["val_bpb"] - d["val_bpb"] for m, d in zip(per_seed["moe"], per_seed["dense"])]
    result["summary"]["bpb_gap"] = summary(gaps)  # MoE minus dense, per seed: negative means MoE is better
    print(f"\n{'side':<7}{'val bpb':>26}{'tokens/s':>26}{'steps':>22}")
    for side in SIDES:
        s = result["summary"][side]
        print(f"{side:<7}" + "".join(f"{s[k]['median']:>12.4g} [{s[k]['min']:.4g}, {s[k]['max']:.4g}]"
                                      for k in ("val_bpb", "tokens_per_s", "steps")))  # fmt: skip
    print(f"MoE - dense bpb per seed: {', '.join(f'{g:+.4f}' for g in gaps)}")
    print(f"saved {save_result('moe', result)}")


if __name__ == "__main__":
    main()
