"""Peak resident memory (RSS) of an lmlab command, measured by GNU time (`/usr/bin/time -v`).

    python bench/memory.py                                  # lmlab run --quick
    python bench/memory.py --full                           # lmlab run (the default pipeline, ~15 minutes)
    python bench/memory.py --sft-init RUN --max-iters 150 300
                                                            # lmlab sft --init RUN, once per step count
    python bench/memory.py --command "pretrain --preset tiny --max-iters 50 --no-progress"
                                                            # any lmlab command (--out is added)
    python bench/memory.py --command "grpo --init RUN/sft --max-iters 100 --no-progress" \
                           --onednn-cache 1024 64 --rounds 3
                                                            # each command under oneDNN's kernel-cache capacities,
                                                            # the capacities alternated round by round

The third form shows memory against steps (e.g. --max-iters 150 300 1200): a stage whose memory
does not grow with steps levels off instead of climbing. Each command writes to a temporary folder,
removed afterwards. No peer: one measurement per command. The machine and torch version are printed
with the results, which are saved as JSON in bench/results/<machine>/memory_<mode>.json (mode: quick,
full, sft or command). GNU time is the `time` package (apt-get install -y time), not the shell's `time`.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import environment, fmt, print_environment, save_result, spread

GNU_TIME = "/usr/bin/time"


def peak_rss_gb(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """(peak RSS in GB, wall seconds) of command, which must succeed; env: variables set for it."""
    start = time.perf_counter()
    done = subprocess.run(
        [GNU_TIME, "-v", *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return max_rss_gb(done.stderr), seconds


def max_rss_gb(report: str) -> float:
    """The peak resident memory in GB that GNU time -v's report states."""
    kbytes = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    if not kbytes:
        sys.exit("no GNU time report found (was the command run under /usr/bin/time -v?)")
    return int(kbytes.group(1)) * 1024 / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="lmlab run with its defaults instead of --quick")
    mode.add_argument("--sft-init", metavar="RUN", help="measure only SFT, from this pre-trained run")
    mode.add_argument("--command", metavar="ARGS", help="measure `lmlab ARGS` (one quoted string; --out is added)")
    parser.add_argument("--max-iters", type=int, nargs="+", default=[150, 300], help="SFT step counts (--sft-init)")
    parser.add_argument(
        "--onednn-cache", type=int, nargs="+", default=[],
        help="ONEDNN_PRIMITIVE_CACHE_CAPACITY values to run each command under (oneDNN's default is 1024; lmlab sets "
        "64 where unset)",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of each command (with --onednn-cache: alternated)"
    )
    args = parser.parse_args()
    if not Path(GNU_TIME).is_file():
        sys.exit(f"{GNU_TIME} not found: install GNU time (apt-get install -y time)")
    # The console script beside this Python: `python -m lmlab` would import lmlab from the current folder
    # before PYTHONPATH.
    lmlab = [str(Path(sys.executable).with_name("lmlab"))]
    if args.command:
        name, commands = "command", [[*lmlab, *shlex.split(args.command)]]
    elif args.sft_init:
        name = "sft"
        commands = [
            [*lmlab, "sft", "--init", args.sft_init, "--no-progress", "--max-iters", str(n)] for n in args.max_iters
        ]
    else:
        name = "full" if args.full else "quick"
        commands = [[*lmlab, "run", "--no-progress", *([] if args.full else ["--quick"])]]
    info = environment()
    print_environment(info)
    caps = args.onednn_cache or [None]
    results = []
    for command in commands:
        shown = f"lmlab {shlex.join(command[1:])}"
        rounds = {cap: [] for cap in caps}
        for k in range(args.rounds):
            for cap in caps[k % len(caps) :] + caps[: k % len(caps)]:  # rotate who goes first (bench/common.py)
                env = {} if cap is None else {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": str(cap)}
                with tempfile.TemporaryDirectory(prefix="lmlab-memory-") as folder:
                    gb, seconds = peak_rss_gb([*command, "--out", str(Path(folder) / "run")], env)
                where = "" if cap is None else f" (oneDNN cache {cap})"
                print(f"peak RSS {gb:.2f} GB, {seconds:.0f} s: {shown}{where}", flush=True)
                rounds[cap].append((gb, seconds))
        for cap, measured in rounds.items():
            row = {"command": shown, "peak_rss_gb": spread([gb for gb, _ in measured]),
                   "seconds": spread([s for _, s in measured])}  # fmt: skip
            if cap is not None:
                row["onednn_cache"] = cap
                print(f"oneDNN cache {cap}: peak RSS {fmt(row['peak_rss_gb'], 2)} GB, {fmt(row['seconds'])} s")
            results.append(row)
    if args.onednn_cache:
        name += "_onednn_cache"
    print(f"saved {save_result(f'memory_{name}', {'environment': info, 'mode': name, 'results': results})}")


if __name__ == "__main__":
    main()
