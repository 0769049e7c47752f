"""`lmlab run --scale gpu` measured where a GPU is lent: one prepared script, the figures a GPU pipeline run owes.

1. The card(s), torch and CUDA versions.
2. `lmlab run --scale gpu --out DIR` (every training stage on every GPU of the machine), under GNU time.
3. From the run folder: the minutes of each phase (results.json), each training stage's median tokens/s over its
   logged steps after the first fifth and its MFU against the card's datasheet bf16 peak (the stage's FLOPs a token
   from its model, as the trainer counts them), the peak CUDA memory of the `lmlab run` process, the pre-training
   estimate the run printed beside the measured pre-training minutes, and the report's headline figures.

    python bench/gpu_pipeline.py [--out DIR] [--processes N] [--summarize DIR]

--summarize DIR reads an existing run folder instead of running (also on a CPU run of `lmlab run`, which checks this
script without a GPU; nothing is saved then). Saves bench/results/<machine>/gpu_pipeline.json.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment, print_environment, save_result  # noqa: E402
from gpu import datasheet_peak  # noqa: E402

STAGES = ("pretrain", "sft", "reward", "dpo", "ppo", "grpo")


def stage_figures(run: Path, peak: float | None) -> dict:
    """Median tokens/s and the trainer's own MFU of a stage's logged steps after the first fifth; datasheet MFU."""
    from lmlab.runs import load_run

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "tokens_per_s" in r][len(records) // 5 :] or records
    tokens_per_s = statistics.median(r["tokens_per_s"] for r in steps)
    figures = {"steps": records[-1]["step"], "tokens_per_s": tokens_per_s}
    if any("mfu" in r for r in steps):
        figures["mfu_measured_peak"] = statistics.median(r["mfu"] for r in steps if "mfu" in r)
    model = load_run(run, "cpu", kind=yaml_kind(run)).model
    if peak and hasattr(model, "flops_per_token"):
        figures["mfu_datasheet"] = tokens_per_s * model.flops_per_token() / peak
    return figures


def yaml_kind(run: Path) -> str:
    import yaml

    return yaml.safe_load((run / "config.yaml").read_text()).get("model_kind", "causal-lm")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/gpu-scale")
    ap.add_argument("--processes", type=int, default=None)
    ap.add_argument("--summarize", default=None, help="an existing run folder: read it, do not run")
    args = ap.parse_args()
    info = environment("lmlab")
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda"] = torch.version.cuda
    print_environment(info)
    root = Path(args.summarize or args.out)
    wall = None
    if not args.summarize:
        command = ["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m", "lmlab", "run", "--scale", "gpu",
                   "--out", str(root), *(["--processes", str(args.processes)] if args.processes else [])]  # fmt: skip
        t = time.perf_counter()
        done = subprocess.run(command)
        wall = time.perf_counter() - t
        if done.returncode:
            raise SystemExit(f"lmlab run --scale gpu failed ({done.returncode})")
    results = json.loads((root / "results.json").read_text())
    peak = datasheet_peak(info["gpus"][0]) if info.get("gpus") else None
    stages = {s: stage_figures(root / s, peak) for s in STAGES if (root / s / "metrics.jsonl").is_file()}
    result = {
        "environment": info,
        "run": str(root),
        "wall_minutes": wall / 60 if wall else None,
        "phase_minutes": {k: v / 60 for k, v in results.get("timings_s", {}).items()},
        "plan": results.get("scale", {}),
        "datasheet_bf16_flops": peak,
        "stages": stages,
        "pretrain": results.get("pretrain"),
        "task_accuracy": results.get("task_accuracy"),
        "peak_rss_mb": results.get("peak_rss_mb"),
    }
    for name, minutes in result["phase_minutes"].items():
        print(f"{name}: {minutes:.1f} min")
    for name, s in stages.items():
        mfu = f", MFU {100 * s['mfu_datasheet']:.1f}% of the datasheet peak" if "mfu_datasheet" in s else ""
        print(f"{name}: {s['tokens_per_s']:,.0f} tokens/s{mfu} ({s['steps']} steps)")
    if "cuda_peak_gb" in result["plan"]:
        print(f"peak CUDA memory of the lmlab run process: {result['plan']['cuda_peak_gb']:.1f} GB")
    print(f"plan: {result['plan'].get('plan', '')}")
    if not info.get("gpus"):  # a check of this script on a CPU run: its figures are not the GPU's
        print("no GPU: not saved")
        return
    print("saved", save_result("gpu_pipeline", result))


if __name__ == "__main__":
    main()
