"""bf16 autocast against fp32 at the 6/6/384 shape (block 256, batch 8) on a real corpus: training throughput and
the loss curve over the first 200 steps (same init, same batches, lmlab's Trainer with lr 1e-3, 20 warmup steps).

Both attention kernels on both dtypes, four sides: fp32 sdpa, fp32 math, bf16 sdpa, bf16 math (math: explicit
softmax). lmlab's default (attn_impl "auto") picks SDPA in fp32 and explicit softmax under bf16 autocast on the
CPU, where bf16 SDPA's backward is slow, so the default bf16/fp32 ratio also changes the kernel; the same-kernel
ratios show what the dtype alone does. Each side keeps its own model (the same initial weights) and Trainer, and
the sides take turns in blocks of --block steps, rotating who goes first each round (bench/common.py), so every
side trains on the same batches in the same order and drift lands on all alike. The first block of each side is
not timed (its steps still count in the curves). Reported: each side's tokens/s as median [min, max] over the
blocks; bf16/fp32 per round, median [min, max], for the default pairing and each same-kernel pairing; and each
pairing's loss gap: the mean of the last 20 steps, and the largest per-step relative difference over the curve.

    python bench/bf16_parity.py --data ../shared/data/tinyshakespeare.txt [--steps 200] [--block 5]
"""

import argparse

import numpy as np
import torch
from common import alternate, environment, fmt, print_environment, save_result, spread

from lmlab.config import TrainConfig
from lmlab.data.tokens import prepare_data, prepare_tokenizer, random_batch
from lmlab.device import autocast
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT, CausalSelfAttention
from lmlab.stages.pretrain import next_token_loss
from lmlab.trainer import Trainer

SHAPE = dict(n_layer=6, n_head=6, n_embd=384, block_size=256)
B, T = 8, SHAPE["block_size"]
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}
KERNELS = ("sdpa", "math")


def default_kernel(dtype: str) -> str:
    """The attention kernel lmlab's attn_impl "auto" picks for a CPU training forward in this dtype."""
    attn = CausalSelfAttention(ModelConfig(n_layer=1, n_head=1, n_embd=8, block_size=8), 0)
    with autocast(torch.device("cpu"), getattr(torch, dtype)):
        return "math" if attn.use_math_attention(torch.zeros(1, 1, 8)) else "sdpa"


class Side:
    """One dtype and kernel: its own model (the same initial weights as every side) and Trainer."""

    def __init__(self, dtype: str, kernel: str, vocab_size: int, batch_fn, steps: int, block: int):
        torch.manual_seed(0)
        model = GPT(ModelConfig(**SHAPE, vocab_size=vocab_size, attn_impl=kernel))
        cfg = TrainConfig(max_iters=steps, batch_size=B, lr=1e-3, warmup_iters=20, dtype=dtype, progress=False)
        self.trainer = Trainer(model, cfg, None, batch_fn, next_token_loss)
        self.block, self.losses = block, []

    def __call__(self):
        """The next block of training steps, continuing this side's loss curve."""
        for _ in range(self.block):
            loss, _, _ = self.trainer.train_step(self.trainer.model)
            self.losses.append(loss)


def loss_gap(fp32: list[float], bf16: list[float]) -> dict:
    """The mean of the last 20 steps on each side (it smooths batch noise), their relative difference, and the
    largest per-step relative difference over the curve."""
    fp32, bf16 = np.array(fp32), np.array(bf16)
    end32, end16 = fp32[-20:].mean(), bf16[-20:].mean()
    worst = np.max(np.abs(bf16 - fp32) / fp32)
    return {"fp32": float(end32), "bf16": float(end16), "gap": float(abs(end16 - end32) / end32), "worst": float(worst)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=200, help="training steps of each side (a multiple of --block)")
    ap.add_argument("--block", type=int, default=5, help="steps a side runs in its turn (one timed round)")
    args = ap.parse_args()
    if args.block < 1 or args.steps < 2 * args.block or args.steps % args.block:
        ap.error("--steps must be a multiple of --block, at least two blocks (the first is not timed)")
    info = environment()
    print_environment(info)
    tok = prepare_tokenizer(args.data, "char", 0)
    data = prepare_data(args.data, tok, 0.1, progress=False)

    def batch_fn(i):
        x, y = random_batch(data.train, i, B, T, 0)
        return {"inputs": x, "targets": y}

    default = {d: default_kernel(dtype) for d, dtype in DTYPES.items()}
    sides = {
        f"{d} {k}": Side(dtype, k, tok.vocab_size, batch_fn, args.steps, args.block)
        for d, dtype in DTYPES.items()
        for k in KERNELS
    }
    times = alternate(sides, rounds=args.steps // args.block - 1, warmup=1)
    tokens = args.block * B * T
    rates = {k: spread([tokens / t for t in v]) for k, v in times.items()}
    print(f"\n{args.steps} steps a side, in blocks of {args.block} ({tokens} tokens a timed block):")
    for k, r in rates.items():
        print(f"  {k:10} {fmt(r):>24} tok/s{'  (default)' if k.split()[1] == default[k.split()[0]] else ''}")

    pairings = {"default": (f"fp32 {default['fp32']}", f"bf16 {default['bf16']}")}
    pairings.update({f"same kernel, {k}": (f"fp32 {k}", f"bf16 {k}") for k in KERNELS})
    results = {}
    for label, (a, b) in pairings.items():
        ratio = spread([ta / tb for ta, tb in zip(times[a], times[b])])  # per round: bf16 tok/s / fp32 tok/s
        gap = loss_gap(sides[a].losses, sides[b].losses)
        results[label] = {"fp32": a, "bf16": b, "ratio": ratio, "loss": gap}
        print(
            f"\n{label} ({b} / {a}): bf16/fp32 {fmt(ratio, 2)}x\n"
            f"  loss after {args.steps} steps (mean of last 20): fp32 {gap['fp32']:.4f}, bf16 {gap['bf16']:.4f}, "
            f"difference {gap['gap']:.2%}; largest per-step difference {gap['worst']:.2%}"
        )
    out = {"environment": info, "args": vars(args), "shape": {**SHAPE, "batch": B}, "default_kernel": default,
           "tokens_per_s": rates, "pairings": results, "rounds_s": times,
           "curves": {k: s.losses for k, s in sides.items()}}  # fmt: skip
    print(f"saved {save_result('bf16_parity', out)}")


if __name__ == "__main__":
    main()
