"""Tokenizer and data-loading speed: BPE training and batch encoding through `tokenizers`, and the
share of a training step spent drawing a batch from the memmap token cache.

No peer to alternate with: BPE training is timed once; batch encoding, the batch draw and the training step
(6/6/384, B8 T256, fp32, fused AdamW) are timed over rounds and reported as median [min, max]. The machine,
torch and `tokenizers` versions are printed with the results, which are saved as JSON in
bench/results/<machine>/tokenizer_throughput_<corpus>.json.

    python bench/tokenizer_throughput.py --data ../shared/data/tinyshakespeare.txt
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from common import alternate, environment, fmt, print_environment, save_result, spread

from lmlab.data.corpus import documents
from lmlab.data.tokens import prepare_data, random_batch
from lmlab.losses import cross_entropy
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.tokenizer import chunk_lines, train_bpe


def round_times(fn, rounds: int, warmup: int) -> list[float]:
    """Seconds of each of `rounds` calls of fn, after `warmup` untimed ones (one side: nothing to alternate)."""
    return alternate({"": fn}, rounds=rounds, warmup=warmup)[""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="web", help="a built-in corpus name or a path")
    ap.add_argument("--vocab-size", type=int, default=4096)
    args = ap.parse_args()
    info = environment("tokenizers")
    print_environment(info)
    pieces = [p for doc in documents(args.data) for text in doc for p in chunk_lines([text])]
    n_bytes = sum(len(p.encode()) for p in pieces)
    t = time.perf_counter()
    tok = train_bpe(pieces, args.vocab_size)
    train_s = time.perf_counter() - t
    encode = spread([n_bytes / 1e6 / s for s in round_times(lambda: tok.encode_batch(pieces), rounds=7, warmup=1)])
    print(f"corpus {args.data}: {n_bytes / 1e6:.2f} MB")
    print(f"BPE training (vocab {args.vocab_size}), once: {train_s:.2f} s ({n_bytes / 1e6 / train_s:.1f} MB/s)")
    print(f"BPE batch encoding: {fmt(encode, 1)} MB/s on {torch.get_num_threads()} threads")

    with tempfile.TemporaryDirectory() as cache:
        data = prepare_data(args.data, tok, 0.1, cache, progress=False)
        shape = dict(n_layer=6, n_head=6, n_embd=384, block_size=256)
        B, T = 8, shape["block_size"]
        batch = spread([s * 1e3 for s in round_times(lambda: random_batch(data.train, 3, B, T, 0), 50, warmup=3)])
        model = GPT(ModelConfig(vocab_size=tok.vocab_size, **shape))
        opt = torch.optim.AdamW(model.parameters(), fused=True)
        x, y = random_batch(data.train, 0, B, T, 0)

        def step():
            loss = cross_entropy(model(x), y)
            (loss.sum / loss.n).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        step_ms = spread([s * 1e3 for s in round_times(step, rounds=3, warmup=1)])
        share = batch["median"] / step_ms["median"]
        print(
            f"batch draw {fmt(batch, 3)} ms vs training step {fmt(step_ms)} ms (6/6/384, B8 T256): "
            f"{share * 100:.2g}% of step time (medians)"
        )
    out = {
        "environment": info,
        "args": vars(args),
        "corpus_bytes": n_bytes,
        "bpe_train_s": train_s,
        "encode_mb_per_s": encode,
        "batch_draw_ms": batch,
        "train_step_ms": step_ms,
        "batch_share": share,
    }
    print(f"saved {save_result(f'tokenizer_throughput_{Path(args.data).stem}', out)}")


if __name__ == "__main__":
    main()
