"""Distillation against plain pre-training: a student half the teacher's size, the same data and the same time (issue
31, part 3).

The teacher is `lmlab run`'s pre-trained model (cpu-small, 4 x 256, 4.26M parameters) given by --teacher. Both sides
train the `half` student (4 x 176, 2.30M parameters, the teacher's tokenizer) for the same seconds on the teacher's
corpus with the same learning rate and schedule (the cosine following the clock): one with `lmlab distill` (forward
KL to the teacher's distributions at every position, `--hard-weight` times the cross-entropy beside it), one with
`lmlab pretrain` (the cross-entropy of the text's own next tokens). The distilled side also runs the teacher's forward
pass each step, so it sees fewer tokens in the same time: that is part of the comparison. The sides alternate within
each seed (the order rotating). Reported per seed and as median [min, max]: held-out bits per byte on the corpus's
validation split and on its held-out chat split (val_chat_bpb: conversations the corpus keeps apart), the steps, and
the teacher's own figures on the same batches.

    python bench/distill.py --teacher RUN/pretrain [--seeds 1337,1338,1339] [--seconds 180] [--work DIR]  # ~25 min
    python bench/distill.py --teacher RUN/pretrain --seeds 1 --seconds 10 --eval-iters 2       # checks the script
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import environment, print_environment, save_result
from common import spread_present as summary

from lmlab.eval.perplexity import held_out_metrics
from lmlab.runs import RunFolder, load_run
from lmlab.stages.distill import HALF, DistillConfig, distill
from lmlab.stages.pretrain import PretrainConfig, pretrain

COMMON = {"max_iters": 10**9, "lr_decay_iters": 0, "eval_interval": 10**9, "batch_size": 16, "lr": 2e-3,
          "min_lr": 2e-4, "warmup_iters": 100, "progress": False, "compile": False}  # fmt: skip


def train(side: str, teacher: Path, seed: int, seconds: float, eval_iters: int, hard: float, out: Path) -> dict:
    settings = {**COMMON, "seed": seed, "max_seconds": seconds, "eval_iters": eval_iters}
    start = time.perf_counter()
    if side == "distilled":
        run = distill(
            DistillConfig.build("half", overrides={**settings, "hard_weight": hard}), teacher=teacher, out=out
        )
    else:
        corpus = RunFolder(teacher).read_config()["corpus"]
        overrides = {**HALF, **settings, "data": corpus["data"], "val_fraction": corpus["val_fraction"],
                     "tokenizer": str(teacher / "tokenizer.json")}  # fmt: skip
        run = pretrain(PretrainConfig.build(overrides=overrides), out=out)
    wall = time.perf_counter() - start
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    return {"val_bpb": last["val_bpb"], "val_chat_bpb": last.get("val_chat_bpb"), "steps": last["step"],
            "tokens_per_s": last["tokens_per_s"], "val_kl": last.get("val_kl"), "wall_s": wall,
            "params": load_run(run).model.num_params()}  # fmt: skip


def teacher_figures(teacher: Path, eval_iters: int, seed: int) -> dict:
    """The teacher's bits per byte on the batches the students are measured on."""
    from lmlab.data.tokens import prepare_data

    loaded = load_run(teacher)
    corpus = RunFolder(teacher).read_config()["corpus"]
    data = prepare_data(corpus["data"], loaded.tokenizer, corpus["val_fraction"], None, False)
    return held_out_metrics(loaded.model, data, eval_iters, COMMON["batch_size"], HALF["block_size"], seed + 1, "cpu")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", required=True, help="the teacher: lmlab run's pre-trained run")
    parser.add_argument("--seeds", default="1337,1338,1339")
    parser.add_argument("--seconds", type=float, default=180.0, help="training seconds a run (both sides)")
    parser.add_argument("--eval-iters", type=int, default=50, help="validation batches of the final bits per byte")
    parser.add_argument("--hard-weight", type=float, default=0.0, help="the distilled side's cross-entropy weight")
    parser.add_argument("--work", help="folder for the runs (default: a temporary one)")
    args = parser.parse_args()
    info = {**environment(), "python": sys.version.split()[0]}
    print_environment(info)
    teacher, work = Path(args.teacher), Path(args.work or tempfile.mkdtemp(prefix="bench-distill-"))
    seeds = [int(s) for s in args.seeds.split(",")]
    sides = ("distilled", "pretrained")
    per_seed = {side: [] for side in sides}
    for k, seed in enumerate(seeds):
        for side in sides[k % 2 :] + sides[: k % 2]:
            figures = train(side, teacher, seed, args.seconds, args.eval_iters, args.hard_weight,
                            work / f"{side}-{seed}")  # fmt: skip
            per_seed[side].append({"seed": seed, **figures})
            print(f"seed {seed} {side:>10}: " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items() if v is not None),
                  flush=True)  # fmt: skip
    keys = ("val_bpb", "val_chat_bpb", "steps", "tokens_per_s")
    result = {
        "machine": info, "teacher": str(teacher.resolve()), "seconds": args.seconds, "eval_iters": args.eval_iters,
        "hard_weight": args.hard_weight, "per_seed": per_seed,
        "summary": {side: {k: summary([r[k] for r in rows]) for k in keys} for side, rows in per_seed.items()},
        "teacher_figures": {seed: teacher_figures(teacher, args.eval_iters, seed) for seed in seeds},
        "teacher_params": load_run(teacher).model.num_params(),
    }  # fmt: skip
    for key in ("val_bpb", "val_chat_bpb"):
        gaps = [a[key] - b[key] for a, b in zip(per_seed["distilled"], per_seed["pretrained"]) if a[key] and b[key]]
        result["summary"][f"{key}_gap"] = summary(gaps)  # distilled minus pretrained: negative means distilling helps
        print(f"{key}: distilled - pretrained per seed: {', '.join(f'{g:+.4f}' for g in gaps)}")
    print(f"teacher: {result['teacher_figures']}")
    print(f"saved {save_result('distill', result)}")


if __name__ == "__main__":
    main()
