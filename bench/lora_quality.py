"""LoRA SFT against full SFT on the default pipeline's pre-trained model, over seeds: each held-out figure side by side.

Both fine-tune the same pre-trained run on the built-in chat mixture with SFT's defaults (1,700 steps, 96 conversations
a step); LoRA trains rank 16, alpha 32, every linear layer of the blocks (`--lora-rank 16`), its learning rate chosen
on the dev split first: a quarter-length run per candidate (`--dev-lrs`, seed 2024), scored by the mean dev-split
accuracy of the headline tasks (ties: the lower validation loss). Reported on the test split, per seed and as
mean [min, max]: the held-out accuracy of every graded task (greedy, as `lmlab eval --tasks`; benign: the share of
look-alikes refused), SFT's validation loss, and the SFT's minutes. The two sides alternate within each seed.

    python bench/lora_quality.py --init PRETRAINED [--seeds 1337,1338,1339] [--n 100] [--work DIR]

PRETRAINED: the pre-trained run of `lmlab run` (PretrainConfig's cpu-small; without --init this script trains one,
about 10 minutes). `--steps 20 --dev-steps 10 --n 5` checks the script in a few minutes.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import environment, print_environment, save_result

from lmlab.eval.task_accuracy import HEADLINE_TASKS, task_accuracy
from lmlab.stages.sft import SFTConfig, sft

CONVERSATION = ("smalltalk", "refusal", "benign", "reading")
DRILLS = ("add_2d", "add_3d", "reverse_word", "count_letter", "verse_reference", "spell", "max_list")
LORA = {"lora": True, "lora_rank": 16, "lora_alpha": 32.0, "lora_targets": "all"}


def fine_tune(init, out: Path, seed: int, steps: int, lora_lr: float | None) -> tuple[Path, float | None]:
    """One SFT run on the chat mixture (LoRA when lora_lr is given); (run folder, minutes). A finished run of the same
    settings already in `out` (an earlier invocation on the same --work) is evaluated again, not retrained (minutes
    None)."""
    if finished(out, seed, steps, lora_lr):
        return out, None
    train = {"max_iters": steps, "seed": seed, "progress": False, **({"lr": lora_lr} if lora_lr else {})}
    if steps != SFTConfig().train.max_iters:
        train["eval_interval"] = max(steps // 4, 1)
    start = time.perf_counter()
    run = sft(init=init, data="chat", out=out, overrides={"train": train, **({"lora": LORA} if lora_lr else {})})
    return run, (time.perf_counter() - start) / 60


def finished(run: Path, seed: int, steps: int, lora_lr: float | None) -> bool:
    """Whether `run` holds a finished SFT run of this seed, length, learning rate and LoRA setting."""
    from lmlab.runs import RunFolder

    if not (run / "config.yaml").is_file() or not (run / "metrics.jsonl").is_file():
        return False
    record = RunFolder(run).read_config()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = record["train"]
    same = train["seed"] == seed and train["max_iters"] == steps and bool(record.get("adapter")) == bool(lora_lr)
    return same and (not lora_lr or train["lr"] == lora_lr) and records and records[-1]["step"] == steps


def val_loss(run: Path) -> float:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["val_loss"] for r in records if "val_loss" in r][-1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", default=None, help="the pre-trained run (default: train lmlab run's, cpu-small)")
    ap.add_argument("--seeds", default="1337,1338,1339")
    ap.add_argument("--steps", type=int, default=SFTConfig().train.max_iters)
    ap.add_argument("--dev-lrs", default="1e-3,3e-3,1e-2", help="LoRA learning rates tried on the dev split")
    ap.add_argument("--dev-steps", type=int, default=SFTConfig().train.max_iters // 4)
    ap.add_argument("--dev-seed", type=int, default=2024)
    ap.add_argument("--n", type=int, default=100, help="held-out instances per task")
    ap.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    args = ap.parse_args(argv)
    info = environment()
    print_environment(info)
    work = Path(args.work or tempfile.mkdtemp(prefix="lmlab-lora-quality-"))
    init = args.init
    if not init:
        from lmlab.stages.pretrain import PretrainConfig, pretrain

        init = pretrain(PretrainConfig.build("cpu-small", overrides={"progress": False}), out=work / "pretrain")

    dev = {}
    for lr in (float(x) for x in args.dev_lrs.split(",")):
        run, minutes = fine_tune(init, work / f"dev-lora-{lr:g}", args.dev_seed, args.dev_steps, lr)
        scores = task_accuracy(run, HEADLINE_TASKS, args.n, split="dev")
        dev[f"{lr:g}"] = {"dev_accuracy": statistics.mean(scores.values()), "tasks": scores, "val_loss": val_loss(run)}
        tasks = ", ".join(f"{k} {v:.0%}" for k, v in scores.items())
        print(f"dev lr {lr:g}: mean dev accuracy {dev[f'{lr:g}']['dev_accuracy']:.1%} ({tasks}), "
              f"val loss {val_loss(run):.3f}", flush=True)  # fmt: skip
    lora_lr = float(max(dev, key=lambda k: (dev[k]["dev_accuracy"], -dev[k]["val_loss"])))  # ties: the lower loss
    print(f"LoRA learning rate: {lora_lr:g} (full SFT: its default {SFTConfig().train.lr:g})", flush=True)

    sides = {"full": None, "lora": lora_lr}
    scores: dict[str, dict[str, list[float]]] = {name: {} for name in sides}
    for k, seed in enumerate(int(s) for s in args.seeds.split(",")):
        for name in list(sides)[k % 2 :] + list(sides)[: k % 2]:  # alternate who goes first
            run, minutes = fine_tune(init, work / f"{name}-{seed}", seed, args.steps, sides[name])
            result = task_accuracy(run, CONVERSATION + DRILLS, args.n)
            result["benign"] = 1 - result["benign"]  # shown as the share of look-alikes refused
            figures = {**result, "val_loss": val_loss(run), **({} if minutes is None else {"sft_minutes": minutes})}
            for task, value in figures.items():
                scores[name].setdefault(task, []).append(value)
            took = "reused" if minutes is None else f"{minutes:.1f} min"
            print(f"seed {seed} {name:>4}: {took}, val loss {val_loss(run):.3f}; "
                  + ", ".join(f"{t} {v:.1%}" for t, v in result.items()), flush=True)  # fmt: skip
    print("\nmean [min, max] over seeds (benign: share of look-alikes refused)")
    for task in scores["full"]:
        cells = []
        for name in sides:
            values = scores[name].get(task)
            if not values:
                continue
            f = "{:.3f}" if task in ("val_loss", "sft_minutes") else "{:.1%}"
            cells.append(
                f"{name} {f.format(statistics.mean(values))} [{f.format(min(values))}, {f.format(max(values))}]"
            )
        print(f"{task:>16}: " + "; ".join(cells))
    command = "python bench/lora_quality.py " + " ".join(argv if argv is not None else sys.argv[1:])
    settings = {"init": str(init), "lora": LORA, "lora_lr": lora_lr, "full_lr": SFTConfig().train.lr,
                "steps": args.steps, "n": args.n}  # fmt: skip
    data = {**info, "command": command.strip(), **settings, "dev": dev, "scores": scores}
    print("saved", save_result("lora_quality", data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
