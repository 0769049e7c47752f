"""Training tokens/s of an lmlab LSTM language model (through lmlab's Trainer) vs a plain
torch.nn.LSTM loop of the same shape (embedding, LSTM, tied linear head, gradient clipping) with the same
fused AdamW the Trainer uses, fp32. The two sides alternate round by round (bench/common.py); medians [min, max].

    python bench/rnn_throughput.py [--arch lstm] [--width 256] [--layers 2] [--block 128] [--batch 32]
                                   [--steps 30] [--device auto]
"""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from common import alternate, environment, fmt, print_environment, save_result, spread

from lmlab.config import TrainConfig
from lmlab.device import pick_device
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.stages.pretrain import next_token_loss
from lmlab.trainer import Trainer


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def lmlab_steps(args, device, V: int):
    model = build_model(
        ModelConfig(arch=args.arch, n_layer=args.layers, n_embd=args.width, block_size=args.block, vocab_size=V)
    )
    batch = {
        "inputs": torch.randint(0, V, (args.batch, args.block)),
        "targets": torch.randint(0, V, (args.batch, args.block)),
    }
    cfg = TrainConfig(max_iters=10**9, batch_size=args.batch, progress=False, device=str(device), dtype="float32")
    trainer = Trainer(model, cfg, None, lambda i: batch, next_token_loss, device=device)

    def run():
        for _ in range(args.steps):
            trainer.train_step(trainer.model)
        sync(device)

    return run


def plain_steps(args, device, V: int):
    cell = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[args.arch]
    emb, rnn, head = (
        nn.Embedding(V, args.width),
        cell(args.width, args.width, args.layers, batch_first=True),
        nn.Linear(args.width, V, bias=False),
    )
    head.weight = emb.weight
    params = [*emb.parameters(), *rnn.parameters()]
    for m in (emb, rnn, head):
        m.to(device)
    opt = torch.optim.AdamW(params, lr=1e-3, fused=device.type in ("cpu", "cuda"))  # as lmlab.trainer
    x, y = (
        torch.randint(0, V, (args.batch, args.block), device=device),
        torch.randint(0, V, (args.batch, args.block), device=device),
    )

    def step():
        h, _ = rnn(emb(x))
        loss = F.cross_entropy(head(h).view(-1, V), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def run():
        for _ in range(args.steps):
            step()
        sync(device)

    return run


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="lstm", choices=("rnn", "lstm", "gru"))
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--steps", type=int, default=10, help="steps per timed round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    device = pick_device(args.device)
    info = environment()
    print_environment(info)
    torch.manual_seed(0)
    sides = {"lmlab Trainer + RecurrentLM": lmlab_steps(args, device, args.vocab),
             f"plain torch.nn.{args.arch.upper()} loop": plain_steps(args, device, args.vocab)}  # fmt: skip
    tokens = args.steps * args.batch * args.block
    rates = {k: spread([tokens / t for t in v]) for k, v in alternate(sides, args.rounds, warmup=1).items()}
    print(f"device {device}, {args.arch} {args.layers}x{args.width}, B={args.batch}, T={args.block}, V={args.vocab}")
    for k, r in rates.items():
        print(f"{k:30} {fmt(r):>28} tokens/s")
    ours, plain = (r["median"] for r in rates.values())
    print(f"ratio lmlab / plain: {ours / plain:.3f}")
    out = {"environment": info, "args": vars(args), "tokens_per_s": rates, "ratio": ours / plain}
    print(f"saved {save_result(f'rnn_throughput_{args.arch}_{device.type}', out)}")


if __name__ == "__main__":
    main()
