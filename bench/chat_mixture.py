"""The conversational SFT mixture (`--data chat`) against the drill recipe (`--data tasks`), over several seeds:
held-out accuracy of every graded task (greedy, as `lmlab eval --tasks`), the benign look-alikes as the share refused,
and the wall time of each SFT run. The two recipes alternate within each seed, from the same pre-trained run.

    python bench/chat_mixture.py --init PRETRAINED [--seeds 1337,1338,1339] [--n 200] [--work DIR]

Each seed is one `lmlab sft --init PRE --data tasks --seed S` (1,200 steps) and one `lmlab sft --init PRE --data chat
--max-iters 1250 --seed S`, about 9 min of SFT and 5 min of evaluation on 2 cores; `--steps tasks=20,chat=20 --n 5`
checks the script in a minute.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import environment, print_environment, save_result

from lmlab.eval.task_accuracy import task_accuracy
from lmlab.stages.sft import sft

CONVERSATION = ("smalltalk", "refusal", "benign", "reading")
DRILLS = ("add_2d", "add_3d", "reverse_word", "count_letter", "verse_reference", "spell", "max_list")
STEPS = {"tasks": 1200, "chat": 1250}  # chat: 1,300 steps ran 6.0 min, at the stage's limit


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", required=True, help="a pre-trained run folder (e.g. lmlab run's pretrain)")
    ap.add_argument("--seeds", default="1337,1338,1339")
    ap.add_argument("--steps", default=",".join(f"{k}={v}" for k, v in STEPS.items()), help="recipe=steps,...")
    ap.add_argument("--n", type=int, default=200, help="held-out instances per task")
    ap.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    args = ap.parse_args(argv)
    info = environment()
    print_environment(info)
    steps = {name: int(k) for name, k in (item.split("=") for item in args.steps.split(","))}
    work = Path(args.work or tempfile.mkdtemp(prefix="lmlab-chat-mixture-"))
    scores: dict[str, dict[str, list[float]]] = {name: {} for name in steps}
    for seed in (int(s) for s in args.seeds.split(",")):
        for name, max_iters in steps.items():
            start = time.perf_counter()
            run = sft(
                init=args.init,
                data=name,
                out=work / f"{name}-{seed}",
                overrides={"train": {"max_iters": max_iters, "seed": seed, "progress": False}},
            )
            seconds = time.perf_counter() - start
            tasks = (CONVERSATION if name == "chat" else ()) + DRILLS
            result = task_accuracy(run, tasks, args.n)
            if "benign" in result:
                result["benign"] = 1 - result["benign"]  # shown as the share of look-alikes refused
            for task, value in {**result, "sft_minutes": seconds / 60}.items():
                scores[name].setdefault(task, []).append(value)
            print(f"seed {seed} {name:>5}: {seconds / 60:.1f} min SFT; "
                  + ", ".join(f"{k} {v:.1%}" for k, v in result.items()), flush=True)  # fmt: skip
    print("\nmean [min, max] over seeds (benign: share of look-alikes refused)")
    for task in dict.fromkeys(CONVERSATION + DRILLS + ("sft_minutes",)):
        cells = []
        for name in steps:
            values = scores[name].get(task)
            if not values:
                cells.append(f"{name} -")
            elif task == "sft_minutes":
                cells.append(f"{name} {statistics.mean(values):.1f} [{min(values):.1f}, {max(values):.1f}] min")
            else:
                cells.append(f"{name} {statistics.mean(values):.1%} [{min(values):.1%}, {max(values):.1%}]")
        print(f"{task:>16}: " + "; ".join(cells))
    print("saved", save_result("chat_mixture", {**info, "init": str(args.init), "steps": steps, "scores": scores}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
