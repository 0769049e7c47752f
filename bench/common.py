"""Shared timing helpers for the benchmarks: medians of interleaved rounds."""

import statistics
import time


def median_time(fn, warmup: int = 2, rounds: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
