"""Serving throughput: 8 concurrent clients vs 1, on `lmlab serve` (continuous batching), and on the same server
with --max-batch 1 (one sequence at a time: what a lock around one generation gives), in one run.

Starts both servers as subprocesses on free local ports, then alternates rounds: one client alone on the
batching server, 8 clients on it, 8 clients on the one-at-a-time server. Each client streams chat completions
(real chat prompts, temperature 1, a seed per request, max_tokens fixed) one after another, for a bounded
number of requests; aggregate tokens/s = completion tokens of all clients / the round's wall time, and
time to first token (TTFT) is measured per request from sending it to its first content chunk. Prints medians
and spreads over rounds, the CPU and library versions; stops the servers.

    python bench/serve.py RUN [--rounds 5] [--requests 4] [--max-tokens 64]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx
import torch
from common import machine_info, save_result

QUESTIONS = [
    "What is 12+34?", "Reverse the word 'lantern'.", "How many letters are in 'mountain'?", "Tell me a story.",
    "What is 7+8?", "Write a happy sentence.", "Reverse the word 'garden'.", "Who are you?", "What is 305+411?",
    "How many times does 'a' appear in 'banana'?", "Say something kind.", "What is the capital of France?",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: str, max_batch: int, dtype: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "lmlab", "serve", run, "--port", str(port), "--max-batch", str(max_batch),
           "--dtype", dtype]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start in 120 s")


def one_request(url: str, question: str, seed: int, max_tokens: int) -> tuple[int, float]:
    """Stream one chat completion; returns (completion tokens, seconds to the first content chunk)."""
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": max_tokens, "temperature": 1.0,
            "seed": seed, "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": True}  # fmt: skip
    start, first, tokens = time.perf_counter(), None, 0
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300) as r:
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - start
    return tokens, first if first is not None else time.perf_counter() - start


def round_of(url: str, clients: int, requests: int, max_tokens: int, seed: int) -> dict:
    """`clients` threads, each sending `requests` requests one after another."""
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def client(c: int):
        for i in range(requests):
            k = (seed * 7919 + c * requests + i) % len(QUESTIONS)
            out = one_request(url, QUESTIONS[k], seed * 1000 + c * requests + i, max_tokens)
            with lock:
                results.append(out)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    tokens = sum(n for n, _ in results)
    return {"tokens_per_s": tokens / wall, "ttft": [t for _, t in results], "tokens": tokens, "seconds": wall}


def summary(rounds: list[dict]) -> dict:
    rates = [r["tokens_per_s"] for r in rounds]
    ttft = sorted(t for r in rounds for t in r["ttft"])
    q = statistics.quantiles(ttft, n=20) if len(ttft) > 1 else ttft * 19
    return {"tokens_per_s_median": statistics.median(rates), "tokens_per_s_min": min(rates),
            "tokens_per_s_max": max(rates), "ttft_p50_ms": 1000 * statistics.median(ttft),
            "ttft_p95_ms": 1000 * q[18], "requests": len(ttft)}  # fmt: skip


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="a chat (SFT or later) run folder, e.g. runs/<lmlab run>/sft")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=4, help="requests per client per round")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    args = ap.parse_args()
    info = machine_info()
    import fastapi
    import uvicorn

    print(f"cpu: {info['cpu']} ({info['cpus']} cpus); torch {torch.__version__}, fastapi {fastapi.__version__}, "
          f"uvicorn {uvicorn.__version__}; run {args.run}, dtype {args.dtype}")  # fmt: skip
    batching, url = start_server(args.run, args.clients, args.dtype)
    one_at_a_time, url_locked = start_server(args.run, 1, args.dtype)
    sides = {"1 client": (url, 1), f"{args.clients} clients": (url, args.clients),
             f"{args.clients} clients, max-batch 1": (url_locked, args.clients)}  # fmt: skip
    results = {name: [] for name in sides}
    try:
        for name, (u, clients) in sides.items():  # warm-up: first requests pay for allocation
            round_of(u, clients, 1, 8, seed=0)
        for k in range(args.rounds):
            for name, (u, clients) in sides.items():
                r = round_of(u, clients, args.requests, args.max_tokens, seed=k + 1)
                results[name].append(r)
                print(
                    f"round {k + 1} {name:>24}: {r['tokens_per_s']:7.0f} tok/s ({r['tokens']} tokens in "
                    f"{r['seconds']:.1f} s), TTFT median {1000 * statistics.median(r['ttft']):.0f} ms",
                    flush=True,
                )
    finally:
        for proc in (batching, one_at_a_time):
            proc.terminate()
            proc.wait(10)
    table = {name: summary(rounds) for name, rounds in results.items()}
    print(f"\n{'':>28} {'tok/s median [min, max]':>26} {'TTFT p50':>10} {'TTFT p95':>10}")
    for name, s in table.items():
        spread = f"{s['tokens_per_s_median']:.0f} [{s['tokens_per_s_min']:.0f}, {s['tokens_per_s_max']:.0f}]"
        print(f"{name:>28} {spread:>26} {s['ttft_p50_ms']:>8.0f}ms {s['ttft_p95_ms']:>8.0f}ms")
    speedup = table[f"{args.clients} clients"]["tokens_per_s_median"] / table["1 client"]["tokens_per_s_median"]
    print(f"\n{args.clients} concurrent clients: {speedup:.2f}x the tokens/s of one client")
    out = {"machine": info, "torch": torch.__version__, "args": vars(args), "results": table,
           "speedup": speedup, "rounds": results, "omp_threads": os.environ.get("OMP_NUM_THREADS")}  # fmt: skip
    print(f"saved {save_result('serve', out)}")


if __name__ == "__main__":
    main()
