"""Shared helpers for the benchmarks: medians of interleaved rounds, the machine, saved results."""

import json
import os
import platform
import re
import statistics
import time
from pathlib import Path


def median_time(fn, warmup: int = 2, rounds: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine_info() -> dict:
    """The CPU model (/proc/cpuinfo's model name), the CPUs this process may use, and a slug naming both."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    slug = re.sub(r"[^a-z0-9]+", "-", cpu.lower()).strip("-")
    return {"cpu": cpu, "cpus": cpus, "slug": f"{slug}-{cpus}cpu"}


def save_result(name: str, data: dict) -> str:
    """data as JSON in bench/results/<machine slug>/<name>.json (indented, written whole); returns the path."""
    folder = Path(__file__).parent / "results" / machine_info()["slug"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return str(path)
