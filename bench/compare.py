"""`lmlab compare` at its defaults: wall time and peak memory (GNU time), and every number of its report.

    python bench/compare.py [--work DIR] [--done RUN:TIME_LOG] [--quick] [--name NAME] [-- EXTRA FLAGS]

Runs `/usr/bin/time -v lmlab compare --out DIR/compare` (about 26 min on 2 cores; --quick about 3), or takes a
compare already made at the defaults and the GNU time output it ran under (--done). Prints the minutes and peak
RSS, and saves the report's results.json and report.md with them, the machine and the command to
bench/results/<machine>/compare.json (compare_quick.json with --quick; --name NAME: NAME.json), its figures
beside it as compare_*.png; `python bench/figures.py` writes the docs' tables from it. Flags after `--` go to
`lmlab compare` (e.g. `-- --from RUN`).
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import environment, print_environment, save_result
from lmlab_run import time_log_figures
from memory import GNU_TIME


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=None, help="folder for the report (default: a temporary one)")
    ap.add_argument("--done", metavar="RUN:TIME_LOG", help="a compare made at the defaults, and its GNU time output")
    ap.add_argument("--quick", action="store_true", help="lmlab compare --quick")
    ap.add_argument("--name", default="", help="the result's file name (default: compare, or compare_quick)")
    ap.add_argument("extra", nargs="*", help="flags passed on to lmlab compare (after --)")
    args = ap.parse_args(argv)
    info = environment("numpy", "sacrebleu")
    print_environment(info)
    flags = ["--quick"] * args.quick + args.extra
    if args.done:
        run, _, log = args.done.rpartition(":")
        run, log = Path(run), Path(log)
    else:
        work = Path(args.work or tempfile.mkdtemp(prefix="lmlab-compare-"))
        work.mkdir(parents=True, exist_ok=True)
        run, log = work / "compare", work / "compare.time"
        lmlab = str(Path(sys.executable).with_name("lmlab"))  # the console script beside this Python
        with log.open("w") as err:
            if subprocess.run([GNU_TIME, "-v", lmlab, "compare", "--out", str(run), *flags], stderr=err).returncode:
                sys.exit(f"lmlab compare failed; see {log}")
    figures = time_log_figures(log.read_text())
    print(f"lmlab compare {' '.join(flags)}: {figures['minutes']:.1f} min, peak RSS {figures['peak_rss_gb']:.2f} GB")
    result = {**info, "command": " ".join(["lmlab compare", *flags]), **figures}
    result["results"] = json.loads((run / "results.json").read_text())
    result["report"] = (run / "report.md").read_text()
    name = args.name or ("compare_quick" if args.quick else "compare")
    saved = Path(save_result(name, result))
    for png in sorted(run.glob("*.png")) if not args.quick else ():  # the report's figures, for the docs
        shutil.copyfile(png, saved.with_name(f"{name}_{png.name}"))
    print("saved", saved)
    return 0


if __name__ == "__main__":
    sys.exit(main())
