"""bf16 autocast against fp32 at the 6/6/384 shape (block 256, batch 8) on a real corpus: training
throughput and the loss curve over the first 200 steps (same init, same batches).

    python bench/bf16_parity.py --data ../shared/data/tinyshakespeare.txt [--steps 200]
"""

import argparse
import time

import numpy as np
import torch

from lmlab.config import TrainConfig
from lmlab.data.tokens import prepare_data, prepare_tokenizer, random_batch
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.stages.pretrain import next_token_loss
from lmlab.trainer import Trainer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    tok = prepare_tokenizer(args.data, "char", 0)
    data = prepare_data(args.data, tok, 0.1, progress=False)
    curves, speed = {}, {}
    for dtype in ("float32", "bfloat16"):
        torch.manual_seed(0)
        model = GPT(ModelConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=tok.vocab_size))

        def batch_fn(i):
            x, y = random_batch(data.train, i, 8, 256, 0)
            return {"inputs": x, "targets": y}

        cfg = TrainConfig(
            max_iters=args.steps,
            batch_size=8,
            lr=1e-3,
            warmup_iters=20,
            dtype=dtype,
            log_interval=1,
            eval_interval=10**9,
            progress=False,
        )
        trainer = Trainer(model, cfg, None, batch_fn, next_token_loss)
        t = time.perf_counter()
        trainer.fit()
        speed[dtype] = args.steps * 8 * 256 / (time.perf_counter() - t)
        curves[dtype] = np.array([h["loss"] for h in trainer.history])
    window = slice(-20, None)  # the mean of the last 20 steps smooths batch noise
    end32, end16 = curves["float32"][window].mean(), curves["bfloat16"][window].mean()
    worst = np.max(np.abs(curves["bfloat16"] - curves["float32"]) / curves["float32"])
    print(
        f"fp32 {speed['float32']:.0f} tok/s, bf16 {speed['bfloat16']:.0f} tok/s: "
        f"bf16 is {speed['bfloat16'] / speed['float32']:.2f}x"
    )
    print(
        f"loss after {args.steps} steps (mean of last 20): fp32 {end32:.4f}, bf16 {end16:.4f}, "
        f"difference {abs(end16 - end32) / end32:.2%}"
    )
    print(f"largest per-step difference over the curve: {worst:.2%}")


if __name__ == "__main__":
    main()
