"""Tokenizer and data-loading speed: BPE training and batch encoding through `tokenizers`, and the
share of a training step spent drawing a batch from the memmap token cache.

    python bench/tokenizer_throughput.py --data ../shared/data/tinyshakespeare.txt
"""

import argparse
import tempfile
import time

import torch
from common import median_time

from lmlab.data.corpus import documents
from lmlab.data.tokens import prepare_data, random_batch
from lmlab.losses import cross_entropy
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.tokenizer import chunk_lines, train_bpe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="web", help="a built-in corpus name or a path")
    ap.add_argument("--vocab-size", type=int, default=4096)
    args = ap.parse_args()
    pieces = [p for doc in documents(args.data) for text in doc for p in chunk_lines([text])]
    n_bytes = sum(len(p.encode()) for p in pieces)
    t = time.perf_counter()
    tok = train_bpe(pieces, args.vocab_size)
    train_s = time.perf_counter() - t
    encode_s = median_time(lambda: tok.encode_batch(pieces), warmup=1, rounds=7)
    print(f"corpus {args.data}: {n_bytes / 1e6:.2f} MB")
    print(f"BPE training (vocab {args.vocab_size}): {train_s:.2f} s ({n_bytes / 1e6 / train_s:.1f} MB/s)")
    print(f"BPE batch encoding: {n_bytes / 1e6 / encode_s:.1f} MB/s on {torch.get_num_threads()} threads")

    with tempfile.TemporaryDirectory() as cache:
        data = prepare_data(args.data, tok, 0.1, cache, progress=False)
        shape = dict(n_layer=6, n_head=6, n_embd=384, block_size=256)
        B, T = 8, shape["block_size"]
        batch_s = median_time(lambda: random_batch(data.train, 3, B, T, 0), warmup=3, rounds=50)
        model = GPT(ModelConfig(vocab_size=tok.vocab_size, **shape))
        opt = torch.optim.AdamW(model.parameters(), fused=True)
        x, y = random_batch(data.train, 0, B, T, 0)

        def step():
            loss = cross_entropy(model(x), y)
            (loss.sum / loss.n).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        step_s = median_time(step, warmup=1, rounds=3)
        print(
            f"batch draw {batch_s * 1e3:.3f} ms vs training step {step_s * 1e3:.0f} ms (6/6/384, B8 T256): "
            f"{batch_s / step_s:.3%} of step time"
        )


if __name__ == "__main__":
    main()
