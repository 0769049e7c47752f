"""Shared helpers for the benchmarks: sides alternated round by round, medians and spreads, the machine and
library versions printed with every result, and results saved as JSON under a folder named by the machine.

These machines drift ~20% in speed over minutes, so a side measured as one block, always first, can win by
drift alone. `alternate` runs round 1 of every side, then round 2 of every side (ABAB..., the order of the
sides rotating each round), so drift lands on all sides alike; report the median and the [min, max] spread.
"""

import json
import os
import re
import statistics
import time
from pathlib import Path


def alternate(sides: dict, rounds: int = 5, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each side's function, its rounds interleaved with the other sides' (module docstring).

    sides: name -> a function of no arguments. Every side runs `warmup` calls first (not timed), in turn.
    """
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    times = {name: [] for name in names}
    for k in range(rounds):
        for name in names[k % len(names) :] + names[: k % len(names)]:  # rotate who goes first
            t = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - t)
    return times


def spread(values: list[float]) -> dict:
    """Median, min and max of a side's rounds (or of any per-round figure)."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def spread_present(values: list) -> dict | None:
    """spread() of the values that are not None (a figure some seeds or points lack); None when none has it."""
    present = [v for v in values if v is not None]
    return spread(present) if present else None


def fmt(s: dict, digits: int = 0) -> str:
    """A spread as 'median [min, max]'."""
    return f"{s['median']:,.{digits}f} [{s['min']:,.{digits}f}, {s['max']:,.{digits}f}]"


def environment(*packages: str) -> dict:
    """The machine (CPU model, CPUs this process may use), torch, its threads, and the named packages' versions."""
    import importlib.metadata

    import torch

    info = {**machine_info(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    info["bf16"] = "amx_bf16" if "amx_bf16" in flags else "avx512_bf16" if "avx512_bf16" in flags else "none"
    for package in packages:
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = None
    return info


def print_environment(info: dict):
    rest = ", ".join(f"{k} {v}" for k, v in info.items() if k not in ("cpu", "cpus", "slug"))
    print(f"cpu: {info['cpu']} ({info['cpus']} cpus); {rest}", flush=True)


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
    from lmlab.device import cpu_model

    cpu = cpu_model()
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
