"""Training throughput (forward + backward + AdamW) of the lmlab GPT vs Hugging Face GPT2LMHeadModel.

Same shapes, same fused AdamW, same batches; fp32 and bf16 autocast; medians of interleaved
rounds. MFU is against the measured fp32 matmul peak of this machine.

    python bench/train_throughput.py [--rounds 5] [--steps 4]
"""

import argparse

import torch
from common import median_time

from lmlab.device import autocast, measure_peak_flops
from lmlab.losses import cross_entropy
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT

SHAPES = {
    "6/6/384 T256 B8": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch=8),
    "4/4/128 T64 B12": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch=12),
}
VOCAB = 65


def lmlab_model(s):
    return GPT(
        ModelConfig(
            n_layer=s["n_layer"], n_head=s["n_head"], n_embd=s["n_embd"], block_size=s["block_size"], vocab_size=VOCAB
        )
    )


def hf_model(s):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        n_layer=s["n_layer"],
        n_head=s["n_head"],
        n_embd=s["n_embd"],
        n_positions=s["block_size"],
        vocab_size=VOCAB,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    return GPT2LMHeadModel(cfg)


def mean_cross_entropy(logits, targets):
    loss = cross_entropy(logits, targets)
    return loss.sum / loss.n


def step_fn(model, x, y, dtype, hf: bool):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    device = torch.device("cpu")

    def run(steps):
        for _ in range(steps):
            with autocast(device, dtype):
                loss = model(input_ids=x, labels=x).loss if hf else mean_cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    peak = measure_peak_flops(torch.device("cpu"), torch.float32)
    print(f"threads {torch.get_num_threads()}, measured fp32 matmul peak {peak / 1e9:.0f} GFLOP/s")
    for name, s in SHAPES.items():
        torch.manual_seed(0)
        x = torch.randint(0, VOCAB, (s["batch"], s["block_size"]))
        y = torch.roll(x, -1, 1)
        ours, theirs = lmlab_model(s), hf_model(s)
        tokens = s["batch"] * s["block_size"] * args.steps
        results = {}
        for dtype in (torch.float32, torch.bfloat16):
            fns = {"lmlab": step_fn(ours, x, y, dtype, False), "hf": step_fn(theirs, x, y, dtype, True)}
            for key, fn in fns.items():
                results[(key, dtype)] = tokens / median_time(lambda: fn(args.steps), warmup=1, rounds=args.rounds)
        mfu = results[("lmlab", torch.float32)] * ours.flops_per_token() / peak
        print(f"\n{name}: {ours.num_params() / 1e6:.2f}M params")
        for dtype in (torch.float32, torch.bfloat16):
            a, b = results[("lmlab", dtype)], results[("hf", dtype)]
            print(f"  {str(dtype):15} lmlab {a:8.0f} tok/s   transformers {b:8.0f} tok/s   ratio {a / b:.2f}")
        print(
            f"  lmlab bf16 / fp32: {results[('lmlab', torch.bfloat16)] / results[('lmlab', torch.float32)]:.2f}x"
            f"   fp32 MFU {mfu:.0%}"
        )


if __name__ == "__main__":
    main()
