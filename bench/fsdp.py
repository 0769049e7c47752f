"""FSDP2 against DDP with 2 processes on one machine (gloo): per-process peak memory and tokens/s.

Memory: a GPT whose fp32 weights + AdamW state are about 1 GB (8 layers, 768 wide, the built-in corpus's 4,096-token
  BPE: 63M parameters x 16 bytes), pre-trained for --mem-steps steps by `torchrun --nproc-per-node 2 lmlab pretrain`
  with --parallel ddp and with --parallel fsdp; every worker runs under GNU time (`/usr/bin/time -v`, through
  torchrun's --no-python) and its own "Maximum resident set size" is read from its log (torchrun's --log-dir). The
  figure is the larger of the two processes' peaks; the run's last checkpoint (full weights, and for fsdp the sharded
  optimizer state) is written in it, as in any run. A third side, fsdp-mmap4mb, is fsdp with glibc's mmap threshold
  fixed at 4 MB (MALLOC_MMAP_THRESHOLD_): what heap fragmentation costs FSDP here, in memory and in tokens/s (the
  memory runs' tokens/s after their second step are saved too).
Throughput: the `cpu-small` preset (`lmlab run`'s model) with each side's best settings on this machine (--compile
  when --compile is given: both sides alike), tokens/s of rank 0's metrics over the steps after --warmup.
The sides alternate round by round, the order rotated each round (bench/common.py).

    python bench/fsdp.py [--rounds 3] [--steps 30] [--warmup 5] [--compile] [--mem-rounds 2] [--mem-steps 8]
                          [--work DIR]

Saves bench/results/<machine>/fsdp.json.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import environment, fmt, print_environment, save_result, spread

MEMORY_MODEL = ["--n-layer", "8", "--n-head", "12", "--n-embd", "768", "--block-size", "128", "--batch-size", "4"]
SIDES = ("ddp", "fsdp")
# glibc raises its mmap threshold to the size of the largest block freed (up to 32 MB), after which FSDP's per-step
# all-gather and reduce-scatter buffers come from the heap and fragment it; this side fixes the threshold at 4 MB
# (freed buffers go back to the OS), to measure what that fragmentation costs in memory and in speed.
MMAP_4MB = {"MALLOC_MMAP_THRESHOLD_": str(4 << 20)}
MEMORY_SIDES = {"ddp": ("ddp", {}), "fsdp": ("fsdp", {}), "fsdp-mmap4mb": ("fsdp", MMAP_4MB)}


def torchrun(parallel: str, flags: list[str], out: Path, env: dict) -> list[int]:
    """One 2-process run under GNU time per worker; each worker's peak RSS in MB."""
    logs = out.with_name(out.name + "-logs")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "--log-dir", str(logs), "--redirects", "3", "--no-python",
               "/usr/bin/time", "-v", sys.executable, "-m", "lmlab", "pretrain", "--parallel", parallel,
               "--out", str(out), "--eval-interval", "100000", "--log-interval", "1", "--no-progress",
               *flags]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    errors = sorted(logs.rglob("stderr.log"))
    if done.returncode:
        tail = "\n".join(p.read_text()[-1500:] for p in errors) or done.stderr[-3000:]
        raise SystemExit(f"{parallel} failed ({done.returncode}):\n{tail}")
    peaks = []
    for log in errors:
        for line in log.read_text().splitlines():
            if "Maximum resident set size" in line:
                peaks.append(int(line.rsplit(":", 1)[1]) // 1024)
    if len(peaks) != 2:
        raise SystemExit(f"{logs}: expected 2 workers' peak RSS, found {peaks}")
    return peaks


def tokens_per_s(run: Path, warmup: int) -> float:
    """The run's tokens over its seconds for the steps after warmup (every step logs its own rate)."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rates = [r["tokens_per_s"] for r in records if r["step"] > warmup]
    return len(rates) / sum(1 / r for r in rates)  # equal tokens per step: the harmonic mean


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False)
    ap.add_argument("--mem-rounds", type=int, default=2)
    ap.add_argument("--mem-steps", type=int, default=8)
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    info = environment("lmlab")
    info["threads"] = 1  # each of the 2 processes (torchrun's OMP_NUM_THREADS=1)
    print_environment(info)
    work = Path(args.work or tempfile.mkdtemp(prefix="lmlab-fsdp-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LMLAB_CACHE": str(work / "cache")}

    def fresh(name: str) -> Path:
        out = work / name
        for p in (out, out.with_name(out.name + "-logs")):
            shutil.rmtree(p, ignore_errors=True)
        return out

    memory = {side: [] for side in MEMORY_SIDES}  # per round: [rank 0, rank 1] in MB
    memory_speed = {side: [] for side in MEMORY_SIDES}  # tokens/s of the memory model
    speed = {side: [] for side in SIDES}
    common_mem = ["--preset", "cpu-small", *MEMORY_MODEL, "--max-iters", str(args.mem_steps), "--no-compile"]
    common_speed = ["--preset", "cpu-small", "--max-iters", str(args.steps + args.warmup),
                    "--compile" if args.compile else "--no-compile"]  # fmt: skip
    torchrun("ddp", ["--preset", "cpu-small", "--max-iters", "1", "--no-compile"], fresh("tokenizer"), env)  # cache
    names = list(MEMORY_SIDES)
    for k in range(args.mem_rounds):
        for side in names[k % len(names) :] + names[: k % len(names)]:
            parallel, extra = MEMORY_SIDES[side]
            out = fresh(f"mem-{side}")
            peaks = torchrun(parallel, common_mem, out, {**env, **extra})
            memory[side].append(peaks)
            memory_speed[side].append(tokens_per_s(out, 2))
            print(f"memory round {k + 1} {side}: peak RSS per process {peaks} MB, "
                  f"{memory_speed[side][-1]:,.0f} tokens/s", flush=True)  # fmt: skip
    for side in SIDES:  # untimed: each side's first compilation fills the inductor cache for its rounds
        torchrun(side, common_speed, fresh(f"speed-{side}"), env)
    for k in range(args.rounds):
        for side in SIDES[k % 2 :] + SIDES[: k % 2]:
            out = fresh(f"speed-{side}")
            torchrun(side, common_speed, out, env)
            speed[side].append(tokens_per_s(out, args.warmup))
            print(f"speed round {k + 1} {side}: {speed[side][-1]:,.0f} tokens/s", flush=True)
    peak = {side: spread([max(p) for p in memory[side]]) for side in MEMORY_SIDES}
    mem_rate = {side: spread(memory_speed[side]) for side in MEMORY_SIDES}
    rate = {side: spread(speed[side]) for side in SIDES}
    ratios = {side: spread([max(f) / max(d) for f, d in zip(memory[side], memory["ddp"])]) for side in MEMORY_SIDES}
    ratios_mem = [max(f) / max(d) for f, d in zip(memory["fsdp"], memory["ddp"])]
    ratios_speed = [f / d for f, d in zip(speed["fsdp"], speed["ddp"])]
    result = {
        "environment": info,
        "settings": {**vars(args), "memory_model": MEMORY_MODEL, "processes": 2, "backend": "gloo"},
        "memory": {
            "per_round_mb": memory,
            "peak_rss_mb": peak,
            "fsdp_over_ddp": spread(ratios_mem),
            "over_ddp": ratios,
            "tokens_per_s": mem_rate,
        },
        "throughput": {"tokens_per_s": rate, "fsdp_over_ddp": spread(ratios_speed)},
        "targets": {"memory_ratio_max": 0.6, "throughput_ratio_min": 0.85},
    }
    for side in MEMORY_SIDES:
        print(f"{side}: peak RSS per process {fmt(peak[side])} MB ({fmt(ratios[side], 2)}x ddp's), "
              f"{fmt(mem_rate[side])} tokens/s")  # fmt: skip
    for side in SIDES:
        print(f"{side}: cpu-small {fmt(rate[side])} tokens/s")
    print(f"fsdp/ddp: memory {statistics.median(ratios_mem):.2f}x, tokens/s {statistics.median(ratios_speed):.2f}x")
    print("saved", save_result("fsdp", result))


if __name__ == "__main__":
    main()
