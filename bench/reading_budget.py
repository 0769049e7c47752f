"""How much fine-tuning bAbI task 1 (lmlab.data.reading) needs: SFT on reading stories alone, from a pre-trained
run, for a few step counts; held-out exact match and the wall time of each. The issue's reading target (>= 80%)
has to fit, next to the drills, small talk and refusals, in an SFT stage of at most 6 minutes; this bench shows
what the whole stage would buy if it went to reading only.

Besides the accuracy it splits the held-out stories by whether the asked person is named in the last sentence: a
model that answers with the last place in the story, whoever it names, scores on those and fails the others.

    python bench/reading_budget.py --init PRETRAINED [--steps 300,900,1300] [--seed 1337] [--work DIR]

Data: 100,000 training stories from the same generator and held-out split as `lmlab sft --data chat`, one user
and one assistant turn each, per-conversation loss weighting (as the chat mixture uses).
"""

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from common import environment, print_environment, save_result

from lmlab.data.reading import reading_test
from lmlab.data.tasks import builtin_conversations, grade
from lmlab.eval.task_accuracy import answer
from lmlab.runs import load_run
from lmlab.stages.sft import sft


def last_sentence_names(prompt: str) -> bool:
    """Whether the last sentence of the story names the person the question asks about."""
    *sentences, question = re.split(r"(?<=[.?]) ", prompt)
    return question.split()[-1].rstrip("?") == sentences[-1].split()[0]


def evaluate(run: Path, n: int) -> dict:
    model, tokenizer, _ = load_run(run, "cpu")
    hits = {True: [], False: []}
    for prompt, reference in reading_test(n):
        reply = answer(model, tokenizer, prompt, len(tokenizer.encode(reference)) + 4)
        hits[last_sentence_names(prompt)].append(grade(reply, reference))
    every = hits[True] + hits[False]
    return {
        "exact_match": sum(every) / len(every),
        "named_last": sum(hits[True]) / max(len(hits[True]), 1),
        "named_earlier": sum(hits[False]) / max(len(hits[False]), 1),
        "n_named_last": len(hits[True]),
        "n_named_earlier": len(hits[False]),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", required=True, help="a pre-trained run folder (e.g. lmlab run's pretrain)")
    ap.add_argument("--steps", default="300,900,1300", help="comma-separated SFT step counts")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--n", type=int, default=200, help="held-out stories graded")
    ap.add_argument("--work", default=None, help="folder for the data and runs (default: a temporary one)")
    args = ap.parse_args(argv)
    info = environment()
    print_environment(info)
    work = Path(args.work or tempfile.mkdtemp(prefix="lmlab-reading-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "reading.jsonl"
    with data.open("w") as f:
        for messages in builtin_conversations(100_000, seed=0, mixture={"reading": 1.0}):
            f.write(json.dumps({"messages": messages}) + "\n")
    rows = []
    for steps in (int(s) for s in args.steps.split(",")):
        start = time.perf_counter()
        run = sft(
            init=args.init,
            data=data,
            out=work / f"reading-{steps}",
            overrides={
                "train": {"max_iters": steps, "seed": args.seed, "eval_interval": steps, "progress": False},
                "sft": {"loss_weighting": "conversation"},
            },
        )
        seconds = time.perf_counter() - start
        rows.append({"steps": steps, "sft_seconds": round(seconds, 1), **evaluate(run, args.n)})
        r = rows[-1]
        print(
            f"{steps:>5} steps  {seconds / 60:5.1f} min  exact match {r['exact_match']:6.1%}  "
            f"(asked person named last: {r['named_last']:6.1%} of {r['n_named_last']}; "
            f"named earlier: {r['named_earlier']:6.1%} of {r['n_named_earlier']})",
            flush=True,
        )
    print("saved", save_result("reading_budget", {**info, "init": str(args.init), "seed": args.seed, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
