"""Generation speed, fp32, greedy, at the 6/6/384 shape (block 256): lmlab with its KV cache vs lmlab recomputing
the prefix vs Hugging Face GPT2LMHeadModel three ways, so the ratio measures the implementation, not API overhead:
`generate(use_cache=True)`, `generate` with its static cache, and a minimal loop (one forward per token with its
DynamicCache, argmax, no logits processors). Batch 1: a 1-token prompt and 255 new tokens fill the window; batch 8
(8 prompts of 16 tokens, 240 new tokens each): lmlab's generate_batch against transformers' batched generate and
minimal loop. Every side alternates round by round (bench/common.py); medians [min, max] of tokens/s.

The memory-bandwidth bound of batch 1: each new token reads every weight once, so tokens/s <= bandwidth / model
bytes, the bandwidth measured here by copying a 256 MB tensor (best of 10).

--compile adds lmlab's KV-cache decoding under torch.compile (lmlab.inference.generate.compile_for_decoding,
dynamic shapes; compilation in the untimed warm-up). --shape cpu-small decodes with `lmlab run`'s model shape
(RoPE, RMSNorm, SwiGLU, vocab 4,096, block 128: 127 new tokens) instead, lmlab only: transformers' GPT-2 is not
that architecture.

    python bench/generation.py [--rounds 5] [--compile] [--shape cpu-small]
"""

import argparse

import torch
from common import alternate, environment, fmt, median_time, print_environment, save_result, spread

from lmlab.inference.generate import compile_for_decoding, generate, generate_batch
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT

SHAPE = dict(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=65)
CPU_SMALL = dict(n_layer=4, n_head=4, n_embd=256, block_size=128, vocab_size=4096, pos_encoding="rope", norm="rmsnorm",
                 mlp="swiglu", bias=False)  # fmt: skip
NEW = 255
BATCH, PROMPT, NEW_BATCHED = 8, 16, 240


def memory_bandwidth() -> float:
    a = torch.ones(64 << 20)  # 256 MB of fp32
    b = torch.empty_like(a)
    best = min(median_time(lambda: b.copy_(a), warmup=0, rounds=1) for _ in range(10))
    return 2 * a.numel() * 4 / best  # read + write, the best of 10 copies


def hf_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=6, n_head=6, n_embd=384, n_positions=256, vocab_size=65, bos_token_id=0,
                     eos_token_id=0, activation_function="gelu_pytorch_tanh")  # fmt: skip
    return GPT2LMHeadModel(cfg).eval()


@torch.no_grad()
def hf_loop(model, idx: torch.Tensor, new: int) -> torch.Tensor:
    """The least a transformers user can run: forward with the cache, argmax, append."""
    from transformers import DynamicCache

    cache, out = DynamicCache(), []
    logits = model(input_ids=idx, past_key_values=cache, use_cache=True).logits[:, -1]
    for _ in range(new):
        token = logits.argmax(-1, keepdim=True)
        out.append(token)
        logits = model(input_ids=token, past_key_values=cache, use_cache=True).logits[:, -1]
    return torch.cat(out, 1)


@torch.no_grad()
def hf_generate(model, idx: torch.Tensor, new: int, **kw) -> torch.Tensor:
    out = model.generate(idx, max_new_tokens=new, min_new_tokens=new, do_sample=False, use_cache=True,
                         pad_token_id=0, **kw)  # fmt: skip
    return out[:, idx.size(1) :]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="also lmlab's compiled KV-cache decoding (batch 1)")
    ap.add_argument("--shape", choices=("6/6/384", "cpu-small"), default="6/6/384")
    args = ap.parse_args()
    info = environment("transformers")
    print_environment(info)
    torch.manual_seed(0)
    small = args.shape == "cpu-small"
    model = GPT(ModelConfig(**(CPU_SMALL if small else SHAPE))).eval()
    new = model.config.block_size - 1  # a 1-token prompt fills the window
    one = torch.tensor([[1]])
    batch1 = {
        "lmlab KV cache": lambda: list(generate(model, [1], new, temperature=0)),
        "lmlab recompute": lambda: list(generate(model, [1], new, temperature=0, use_cache=False)),
    }
    if args.compile:
        compiled = compile_for_decoding(GPT(model.config).eval())
        compiled.load_state_dict(model.state_dict())
        batch1["lmlab KV cache compiled"] = lambda: list(generate(compiled, [1], new, temperature=0))
    if small:
        return report(args, info, model, {"batch 1": (batch1, new)})
    hf = hf_gpt2()
    batch1.update({
        "transformers generate": lambda: hf_generate(hf, one, NEW),
        "transformers static cache": lambda: hf_generate(hf, one, NEW, cache_implementation="static"),
        "transformers minimal loop": lambda: hf_loop(hf, one, NEW),
    })  # fmt: skip
    prompts = torch.randint(0, 65, (BATCH, PROMPT))
    batch8 = {
        "lmlab generate_batch": lambda: generate_batch(model, prompts.tolist(), NEW_BATCHED, temperature=0),
        "transformers generate": lambda: hf_generate(hf, prompts, NEW_BATCHED),
        "transformers minimal loop": lambda: hf_loop(hf, prompts, NEW_BATCHED),
    }
    report(args, info, model, {"batch 1": (batch1, NEW), "batch 8": (batch8, BATCH * NEW_BATCHED)})


def report(args, info, model, benches: dict):
    """Alternate each bench's sides, print tokens/s, the bandwidth bound and the ratios, save the JSON."""
    results = {}
    for label, (sides, tokens) in benches.items():
        times = alternate(sides, rounds=args.rounds, warmup=1)
        results[label] = {k: spread([tokens / t for t in v]) for k, v in times.items()}
        print(f"\n{label} ({tokens} new tokens a round):")
        for k, r in results[label].items():
            print(f"  {k:27} {fmt(r):>22} tok/s")
    r1 = {k: v["median"] for k, v in results["batch 1"].items()}
    bandwidth = memory_bandwidth()
    model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    bound = bandwidth / model_bytes
    print(f"\nmodel {model_bytes / 1e6:.1f} MB fp32; bandwidth {bandwidth / 1e9:.1f} GB/s: bound {bound:.0f} tok/s")
    print(f"batch 1: lmlab {r1['lmlab KV cache']:.0f} tok/s = {r1['lmlab KV cache'] / bound:.0%} of the bound; "
          f"cache speed-up {r1['lmlab KV cache'] / r1['lmlab recompute']:.1f}x")  # fmt: skip
    if "lmlab KV cache compiled" in r1:
        c = r1["lmlab KV cache compiled"]
        print(f"batch 1 compiled: {c:.0f} tok/s = {c / bound:.0%} of the bound, {c / r1['lmlab KV cache']:.2f}x eager")
    if "batch 8" in results:
        r8 = {k: v["median"] for k, v in results["batch 8"].items()}
        best_peer1 = max((k for k in r1 if k.startswith("transformers")), key=r1.get)
        best_peer8 = max((k for k in r8 if k.startswith("transformers")), key=r8.get)
        print(f"lmlab / {best_peer1} (the fastest peer), batch 1: {r1['lmlab KV cache'] / r1[best_peer1]:.2f}x; "
              f"batch 8: lmlab {r8['lmlab generate_batch']:.0f} tok/s, "
              f"{r8['lmlab generate_batch'] / r8[best_peer8]:.2f}x {best_peer8}")  # fmt: skip
    out = {"environment": info, "args": vars(args), "results": results, "bandwidth_bytes_per_s": bandwidth,
           "model_bytes": model_bytes, "bound_tokens_per_s": bound}  # fmt: skip
    name = "generation" + ("_cpu_small" if args.shape == "cpu-small" else "") + ("_compile" if args.compile else "")
    print(f"saved {save_result(name, out)}")


if __name__ == "__main__":
    main()
