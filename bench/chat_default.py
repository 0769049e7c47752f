"""The default SFT data (`lmlab sft`, the built-in chat mixture that `lmlab run` fine-tunes on) over several seeds,
measured for what a person sees: the conversation tasks, the drills, the held-out reply loss and word rate, and the
story's roast prompt on ten sampling seeds; beside it, the reply figures of other runs on the same held-out sets (the
drill recipe's and the old chat mixture's models, whose tokenizer differs: compare their bits per byte).

    python bench/chat_default.py --init PRETRAINED [--seeds 1337,1338,1339] [--n 200] [--work DIR]
                                 [--trained SEED=RUN ...] [--baseline NAME=RUN ...]

--trained takes an SFT run already made from PRETRAINED at the defaults with that seed (lmlab run's RUN/sft is seed
1337) instead of training it again.

Each seed is one `lmlab sft --init PRE --seed S` at the defaults (about 8 min on 2 cores) and about 3 min of
evaluation; `--steps 20 --n 5` checks the script in a minute.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import environment, print_environment, save_result

from lmlab.eval.replies import measure_run
from lmlab.eval.task_accuracy import task_accuracy
from lmlab.experiments.pipeline import safety_figures
from lmlab.stages.sft import sft

CONVERSATION = ("smalltalk", "reading", "elements")  # refusals, look-alikes and how-to: safety_figures
DRILLS = ("add_2d", "add_3d", "reverse_word", "count_letter", "verse_reference", "spell", "max_list")


def measure(run: Path, n: int) -> dict:
    """Every figure of one SFT run: task accuracies, the refusal figures with the roast prompt, the reply figures."""
    figures = task_accuracy(run, CONVERSATION + DRILLS, n)
    safety = safety_figures(run, n, "auto")
    figures.update({k: v for k, v in safety.items() if k != "roast_replies"})
    return {**figures, **measure_run(run, n)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", required=True, help="a pre-trained run folder (e.g. lmlab run's pretrain)")
    ap.add_argument("--seeds", default="1337,1338,1339")
    ap.add_argument("--steps", type=int, default=0, help="SFT steps (0: the default)")
    ap.add_argument("--n", type=int, default=200, help="held-out instances per task")
    ap.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    ap.add_argument("--trained", action="append", default=[], metavar="SEED=RUN", help="a seed's SFT run, made")
    ap.add_argument("--baseline", action="append", default=[], metavar="NAME=RUN", help="another run to measure once")
    args = ap.parse_args(argv)
    info = environment()
    print_environment(info)
    work = Path(args.work or tempfile.mkdtemp(prefix="lmlab-chat-default-"))
    train = {"seed": 0, "progress": False, **({"max_iters": args.steps} if args.steps else {})}
    scores: dict[str, list[float]] = {}
    trained = {int(seed): Path(run) for seed, _, run in (item.partition("=") for item in args.trained)}
    for seed in (int(s) for s in args.seeds.split(",")):
        start = time.perf_counter()
        overrides = {"train": {**train, "seed": seed}}
        run = trained.get(seed) or sft(init=args.init, out=work / f"chat-{seed}", overrides=overrides)
        minutes = {} if seed in trained else {"sft_minutes": (time.perf_counter() - start) / 60}
        figures = {**measure(run, args.n), **minutes}
        for name, value in figures.items():
            scores.setdefault(name, []).append(value)
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
    baselines = {}
    for item in args.baseline:
        name, _, run = item.partition("=")
        baselines[name] = measure_run(run, args.n)
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in baselines[name].items()), flush=True)
    print("\nmean [min, max] over seeds")
    for name, values in scores.items():
        print(f"{name:>22}: {statistics.mean(values):.3f} [{min(values):.3f}, {max(values):.3f}]")
    result = {**info, "init": str(args.init), "seeds": args.seeds, "n": args.n, "scores": scores}
    result["baselines"] = baselines
    print("saved", save_result("chat_default", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
