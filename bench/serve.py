"""Serving throughput: 8 concurrent clients vs 1 on `lmlab serve` (continuous batching), on the same server with
--max-batch 1 (one sequence at a time: what a lock around one generation gives), and on the peer, Hugging Face
`transformers serve` with its continuous batching (the run exported with `lmlab export`), all in one run.

Starts every server as a subprocess on a free local port, then alternates rounds over the sides. Each client
streams chat completions (real chat prompts, temperature 1, a seed per request, max_tokens fixed and always
reached: lmlab's `ignore_eos`, and an exported copy without eos ids for the peer) one after another, for a
bounded number of requests; aggregate tokens/s = completion tokens of all clients / the round's wall time, and
time to first token (TTFT) is measured per request from sending it to its first content chunk. Prints medians
and spreads over rounds, the CPU and library versions; stops the servers.

    python bench/serve.py RUN [--rounds 5] [--requests 4] [--max-tokens 64] [--max-seconds 900] [--no-peer]
"""

import argparse
import asyncio
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch
from common import machine_info, save_result

QUESTIONS = [
    "What is 12+34?", "Reverse the word 'lantern'.", "How many letters are in 'mountain'?", "Tell me a story.",
    "What is 7+8?", "Write a happy sentence.", "Reverse the word 'garden'.", "Who are you?", "What is 305+411?",
    "How many times does 'a' appear in 'banana'?", "Say something kind.", "What is the capital of France?",
]  # fmt: skip


REQUEST_TIMEOUT = 120  # seconds; a request that takes longer stops the benchmark


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cmd: list[str]) -> tuple[subprocess.Popen, int]:
    """Start a server command (its port appended) and wait until /health answers."""
    port = free_port()
    proc = subprocess.Popen([*cmd, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{' '.join(cmd)} exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"{' '.join(cmd)} did not start in 300 s")


def lmlab_server(run: str, max_batch: int, dtype: str) -> list[str]:
    return [sys.executable, "-m", "lmlab", "serve", run, "--max-batch", str(max_batch), "--dtype", dtype]


def peer_server(run: str, folder: Path) -> list[str]:
    """`transformers serve` on the run exported as a Llama or GPT-2 folder, its generation never stopped by eos."""
    from lmlab.interop.huggingface import export_hf

    export_hf(run, folder)
    config = json.loads((folder / "generation_config.json").read_text())
    config.pop("eos_token_id", None)  # decode max_tokens tokens, as lmlab's side does with ignore_eos
    (folder / "generation_config.json").write_text(json.dumps(config))
    return [str(Path(sys.executable).with_name("transformers")), "serve", str(folder), "--continuous-batching",
            "--device", "cpu"]  # fmt: skip


async def one_request(port: int, fields: dict, question: str, seed: int, max_tokens: int) -> tuple[int, float]:
    """Stream one chat completion (the side's own `fields`: model, ignore_eos); returns (completion tokens, seconds
    to the first content chunk).

    A lean client (raw HTTP/1.1 on asyncio streams, bytes counted, not parsed): on 2 cores the clients share the
    machine with the server, and a client library's per-chunk parsing would take CPU time from what is measured.
    """
    body = json.dumps(
        {
            **fields,
            "messages": [{"role": "user", "content": question}],
            "max_tokens": max_tokens,
            "temperature": 1.0,
            "seed": seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    body = body.encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()  # fmt: skip
    start, first = time.perf_counter(), None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    received = b""
    while data := await reader.read(1 << 16):
        received += data
        if first is None and received.count(b"data: {") >= 2:  # the role chunk, then the first content chunk
            first = time.perf_counter() - start
    writer.close()
    if not received.startswith(b"HTTP/1.1 200") or b'"completion_tokens":' not in received[-300:]:
        raise SystemExit(f"unexpected response: {received[:300]!r} ... {received[-100:]!r}")
    tokens = int(re.findall(rb"\"completion_tokens\":\s*(\d+)", received)[-1])
    return tokens, first if first is not None else time.perf_counter() - start


def round_of(port: int, fields: dict, clients: int, requests: int, max_tokens: int, seed: int) -> dict:
    """`clients` concurrent clients, each sending `requests` requests one after another."""

    async def client(c: int) -> list[tuple[int, float]]:
        out = []
        for i in range(requests):
            k = (seed * 7919 + c * requests + i) % len(QUESTIONS)
            request = one_request(port, fields, QUESTIONS[k], seed * 1000 + c * requests + i, max_tokens)
            out.append(await asyncio.wait_for(request, REQUEST_TIMEOUT))
        return out

    async def all_clients():
        return await asyncio.gather(*(client(c) for c in range(clients)))

    start = time.perf_counter()
    results = [r for per_client in asyncio.run(all_clients()) for r in per_client]
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
    ap.add_argument("--no-peer", action="store_true", help="leave out transformers serve")
    ap.add_argument("--max-seconds", type=float, default=900, help="start no new round after this many seconds")
    args = ap.parse_args()
    info = machine_info()
    import fastapi
    import transformers
    import uvicorn

    print(f"cpu: {info['cpu']} ({info['cpus']} cpus); torch {torch.__version__}, transformers "
          f"{transformers.__version__}, fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}; "
          f"run {args.run}, dtype {args.dtype}")  # fmt: skip
    ours, n = {"model": Path(args.run).resolve().name, "ignore_eos": True}, args.clients
    servers, sides = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            servers.append(start_server(lmlab_server(args.run, n, args.dtype)))
            servers.append(start_server(lmlab_server(args.run, 1, args.dtype)))
            sides = {"lmlab, 1 client": (servers[0][1], ours, 1), f"lmlab, {n} clients": (servers[0][1], ours, n),
                     f"lmlab max-batch 1, {n} clients": (servers[1][1], ours, n)}  # fmt: skip
            if not args.no_peer:
                folder = Path(tmp) / "hf"
                servers.append(start_server(peer_server(args.run, folder)))
                theirs = {"model": str(folder)}
                sides.update({"transformers, 1 client": (servers[2][1], theirs, 1),
                              f"transformers, {n} clients": (servers[2][1], theirs, n)})  # fmt: skip
            results = {side: [] for side in sides}
            for port, fields, clients in sides.values():  # warm-up: first requests pay for allocation and loading
                round_of(port, fields, clients, 1, 8, seed=0)
            deadline = time.time() + args.max_seconds
            for k in range(args.rounds):
                if time.time() > deadline:
                    print(f"stopping after {k} rounds: --max-seconds {args.max_seconds} reached")
                    break
                for side, (port, fields, clients) in sides.items():
                    r = round_of(port, fields, clients, args.requests, args.max_tokens, seed=k + 1)
                    results[side].append(r)
                    print(f"round {k + 1} {side:>30}: {r['tokens_per_s']:7.0f} tok/s ({r['tokens']} tokens in "
                          f"{r['seconds']:.1f} s), TTFT median {1000 * statistics.median(r['ttft']):.0f} ms",
                          flush=True)  # fmt: skip
        finally:
            for proc, _ in servers:
                proc.terminate()
                proc.wait(30)
    table = {side: summary(rounds) for side, rounds in results.items()}
    print(f"\n{'':>32} {'tok/s median [min, max]':>26} {'TTFT p50':>10} {'TTFT p95':>10}")
    for side, s in table.items():
        spread = f"{s['tokens_per_s_median']:.0f} [{s['tokens_per_s_min']:.0f}, {s['tokens_per_s_max']:.0f}]"
        print(f"{side:>32} {spread:>26} {s['ttft_p50_ms']:>8.0f}ms {s['ttft_p95_ms']:>8.0f}ms")
    rate = {side: s["tokens_per_s_median"] for side, s in table.items()}
    speedup = {who: rate[f"{who}, {n} clients"] / rate[f"{who}, 1 client"]
               for who in ("lmlab", "transformers") if f"{who}, 1 client" in rate}  # fmt: skip
    for who, x in speedup.items():
        print(f"{who}: {n} concurrent clients get {x:.2f}x the tokens/s of one client")
    out = {"machine": info, "torch": torch.__version__, "transformers": transformers.__version__, "args": vars(args),
           "results": table, "speedup": speedup, "rounds": results}  # fmt: skip
    print(f"saved {save_result('serve' if args.dtype == 'auto' else f'serve_{args.dtype}', out)}")


if __name__ == "__main__":
    main()
