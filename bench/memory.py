"""Peak resident memory (RSS) of an lmlab command, measured by GNU time (`/usr/bin/time -v`).

    python bench/memory.py                                  # lmlab run --quick
    python bench/memory.py --full                           # lmlab run (the default pipeline, ~15 minutes)
    python bench/memory.py --sft-init RUN --max-iters 150 300
                                                            # lmlab sft --init RUN, once per step count
    python bench/memory.py --command "pretrain --preset tiny --max-iters 50 --no-progress"
                                                            # any lmlab command (--out is added)

The third form shows memory against steps (e.g. --max-iters 150 300 1200): a stage whose memory
does not grow with steps levels off instead of climbing. Each command writes to a temporary folder,
removed afterwards. No peer: one measurement per command. The machine and torch version are printed
with the results, which are saved as JSON in bench/results/<machine>/memory_<mode>.json (mode: quick,
full, sft or command). GNU time is the `time` package (apt-get install -y time), not the shell's `time`.
"""

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import environment, print_environment, save_result

GNU_TIME = "/usr/bin/time"


def peak_rss_gb(command: list[str]) -> tuple[float, float]:
    """(peak RSS in GB, wall seconds) of command, which must succeed."""
    start = time.perf_counter()
    done = subprocess.run([GNU_TIME, "-v", *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    kbytes = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return int(kbytes.group(1)) * 1024 / 1e9, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="lmlab run with its defaults instead of --quick")
    mode.add_argument("--sft-init", metavar="RUN", help="measure only SFT, from this pre-trained run")
    mode.add_argument("--command", metavar="ARGS", help="measure `lmlab ARGS` (one quoted string; --out is added)")
    parser.add_argument("--max-iters", type=int, nargs="+", default=[150, 300], help="SFT step counts (--sft-init)")
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
    results = []
    for command in commands:
        with tempfile.TemporaryDirectory(prefix="lmlab-memory-") as folder:
            gb, seconds = peak_rss_gb([*command, "--out", str(Path(folder) / "run")])
        shown = f"lmlab {shlex.join(command[1:])}"
        print(f"peak RSS {gb:.2f} GB, {seconds:.0f} s: {shown}", flush=True)
        results.append({"command": shown, "peak_rss_gb": gb, "seconds": seconds})
    print(f"saved {save_result(f'memory_{name}', {'environment': info, 'mode': name, 'results': results})}")


if __name__ == "__main__":
    main()
