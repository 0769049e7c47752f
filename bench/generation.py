"""Generation speed, batch 1, fp32, greedy: lmlab with the KV cache vs lmlab recomputing the whole
prefix each token vs Hugging Face `generate(use_cache=True)`, at the 6/6/384 shape (block 256).
A 1-token prompt and 255 new tokens fill the 256-token window exactly.

The memory-bandwidth bound: each new token must read every weight once, so tokens/s <= bandwidth
/ model bytes; the bandwidth is measured here by copying a 256 MB tensor.

    python bench/generation.py [--rounds 3]
"""

import argparse

import torch
from common import median_time

from lmlab.inference.generate import generate
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT

SHAPE = dict(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=65)
NEW = 255


def memory_bandwidth() -> float:
    a = torch.ones(64 << 20)  # 256 MB of fp32
    b = torch.empty_like(a)
    best = min(median_time(lambda: b.copy_(a), warmup=0, rounds=1) for _ in range(10))
    return 2 * a.numel() * 4 / best  # read + write, the best of 10 copies


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = GPT(ModelConfig(**SHAPE)).eval()
    from transformers import GPT2Config, GPT2LMHeadModel

    hf = GPT2LMHeadModel(
        GPT2Config(n_layer=6, n_head=6, n_embd=384, n_positions=256, vocab_size=65, bos_token_id=0, eos_token_id=0)
    ).eval()
    prompt = [1]

    def ours(use_cache):
        tokens = list(generate(model, prompt, NEW, temperature=0, use_cache=use_cache))
        assert len(tokens) == NEW

    def theirs():
        with torch.no_grad():
            out = hf.generate(
                torch.tensor([prompt]),
                max_new_tokens=NEW,
                min_new_tokens=NEW,
                do_sample=False,
                use_cache=True,
                pad_token_id=0,
            )
        assert out.shape[1] == NEW + 1

    cached = NEW / median_time(lambda: ours(True), warmup=1, rounds=args.rounds)
    naive = NEW / median_time(lambda: ours(False), warmup=1, rounds=args.rounds)
    hf_rate = NEW / median_time(theirs, warmup=1, rounds=args.rounds)
    bandwidth = memory_bandwidth()
    model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    bound = bandwidth / model_bytes
    print(
        f"model {model_bytes / 1e6:.1f} MB fp32; measured copy bandwidth {bandwidth / 1e9:.1f} GB/s "
        f"-> bound {bound:.0f} tokens/s"
    )
    print(f"lmlab KV cache      {cached:7.0f} tokens/s  ({cached / bound:.0%} of the bandwidth bound)")
    print(f"lmlab recompute     {naive:7.0f} tokens/s  (cache speed-up {cached / naive:.1f}x)")
    print(f"transformers cache  {hf_rate:7.0f} tokens/s  (lmlab / transformers {cached / hf_rate:.2f}x)")


if __name__ == "__main__":
    main()
