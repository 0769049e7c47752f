"""`lmlab run` at its defaults over several seeds: wall time and peak memory (GNU time), and the report's figures.

    python bench/lmlab_run.py [--seeds 1337,1338,1339] [--work DIR] [--done SEED=RUN:TIME_LOG ...] [--quick]

Each seed is one `lmlab run --seed S` (about 24 min on 2 cores) under `/usr/bin/time -v`; its RUN/results.json
holds every figure of the report. --done takes a run already made at the defaults with that seed and the GNU time
output it was run under (`/usr/bin/time -v lmlab run --seed S --out RUN 2> TIME_LOG`), instead of running it again.
Prints, per figure, the mean and [min, max] over the seeds, and saves every seed's results.json with them to
bench/results/<machine>/lmlab_run.json (lmlab_run_quick.json with --quick; --name NAME: NAME.json).
`--quick --seeds 1` checks the script in about 5 minutes.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import environment, print_environment, save_result
from memory import GNU_TIME, max_rss_gb

STAGES = ("SFT", "DPO", "PPO", "GRPO")


def time_log_figures(text: str) -> dict:
    """Wall minutes and peak RSS (GB) from GNU time -v's report."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    if not wall:
        sys.exit("no GNU time report found (was the run under /usr/bin/time -v?)")
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.group(1).split(":"))))
    return {"minutes": seconds / 60, "peak_rss_gb": max_rss_gb(text)}


def headline(results: dict) -> dict[str, float]:
    """The figures the README quotes, flat, from one run's results.json."""
    out = {f"pretrain {k}": results["pretrain"][k] for k in ("val_bpb", "val_chat_bpb")}
    out.update({f"conversation {k}": v for k, v in results["conversation"].items()})
    for stage in STAGES:
        for k, v in results["safety"][stage].items():
            if k != "roast_replies":
                out[f"{stage} {k}"] = v
        for k in ("word_rate", "openers_refused", "smalltalk_reply_bpb", "howto_reply_bpb"):
            out[f"{stage} {k}"] = results["replies"][f"after {stage}"][k]
    for when, accuracy in results["task_accuracy"].items():
        if when != "pre-trained":
            out.update({f"{when} {task}": v for task, v in accuracy.items()})
    prefs = results["preferences"]
    out["reward model val_accuracy"] = prefs["reward_model"]["val_accuracy"]
    for stage in ("sft", "dpo", "ppo"):
        out.update(
            {f"{stage} sentiment {k}": prefs[stage][k] for k in ("reward", "win_rate", "kl") if k in prefs[stage]}
        )
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1337,1338,1339")
    ap.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    ap.add_argument("--done", action="append", default=[], metavar="SEED=RUN:TIME_LOG", help="a seed's run, made")
    ap.add_argument("--quick", action="store_true", help="lmlab run --quick")
    ap.add_argument("--name", default="", help="the result's file name (default: lmlab_run, or lmlab_run_quick)")
    args = ap.parse_args(argv)
    info = environment("tokenizers", "vaderSentiment")
    print_environment(info)
    work = Path(args.work or tempfile.mkdtemp(prefix="lmlab-run-"))
    work.mkdir(parents=True, exist_ok=True)
    done = {}
    for item in args.done:
        seed, _, rest = item.partition("=")
        run, _, log = rest.rpartition(":")
        done[int(seed)] = (Path(run), Path(log))
    lmlab = str(Path(sys.executable).with_name("lmlab"))  # the console script beside this Python
    runs, figures = {}, {}
    for seed in (int(s) for s in args.seeds.split(",")):
        if seed in done:
            run, log = done[seed]
        else:
            run, log = work / f"run-{seed}", work / f"run-{seed}.time"
            command = [GNU_TIME, "-v", lmlab, "run", "--seed", str(seed), "--out", str(run), "--no-progress"]
            with log.open("w") as err:
                if subprocess.run([*command, *(["--quick"] if args.quick else [])], stderr=err).returncode:
                    sys.exit(f"lmlab run --seed {seed} failed; see {log}")
        results = json.loads((run / "results.json").read_text())
        runs[seed] = {**time_log_figures(log.read_text()), "results": results}
        flat = {"minutes": runs[seed]["minutes"], "peak_rss_gb": runs[seed]["peak_rss_gb"], **headline(results)}
        for name, value in flat.items():
            figures.setdefault(name, []).append(value)
        print(f"seed {seed}: {flat['minutes']:.1f} min, peak RSS {flat['peak_rss_gb']:.2f} GB ({run})", flush=True)
    print("\nmean [min, max] over seeds")
    summary = {}
    for name, values in figures.items():
        summary[name] = {"mean": statistics.mean(values), "min": min(values), "max": max(values), "values": values}
        print(f"{name:>40}: {summary[name]['mean']:.3f} [{min(values):.3f}, {max(values):.3f}]")
    result = {**info, "command": "lmlab run" + " --quick" * args.quick, "seeds": args.seeds, "summary": summary}
    result["runs"] = {str(seed): r for seed, r in runs.items()}
    print("saved", save_result(args.name or ("lmlab_run_quick" if args.quick else "lmlab_run"), result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
