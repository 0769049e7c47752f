"""Training throughput (forward + backward + fused AdamW) of the lmlab GPT vs Hugging Face GPT2LMHeadModel at its best.

The peer as its authors would run it: `activation_function="gelu_pytorch_tanh"` (the fused tanh GELU lmlab uses;
GPT-2's default `gelu_new` is an unfused formula), `use_cache=False` in training, and both of its attention
implementations, `sdpa` and `eager`, each measured (the faster is the one compared). lmlab runs its default path
(SDPA in fp32; explicit softmax under bf16 autocast on the CPU, where bf16 SDPA's backward is slow), and with
--compile also under `torch.compile`, with its loss compiled with the model as the Trainer's --compile does, and
the faster transformers side compiled too (its loss is inside its forward); compilation stays outside the timed
rounds and its time is printed.

Same shapes, same batches, same fused AdamW; fp32 and bf16 autocast; every side alternates round by round
(bench/common.py), medians [min, max] of tokens/s. MFU counts the FLOPs a causal model needs per token
(GPT.flops_per_token: 6N + 6 L C T, attention's half of PaLM's full 12 L C T), against the fp32 (or bf16)
matmul peak measured on this machine, not a datasheet's.

    python bench/train_throughput.py [--rounds 7] [--steps 4] [--compile]
"""

import argparse
import statistics

import torch
from common import alternate, environment, fmt, print_environment, save_result, spread

from lmlab.device import autocast, measure_peak_flops
from lmlab.losses import cross_entropy
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT

SHAPES = {
    "6/6/384 T256 B8": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch=8),
    "4/4/128 T64 B12": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch=12),  # shakespeare-char
    # cpu-small (lmlab run's model): RoPE, RMSNorm, SwiGLU, no GPT-2 peer; lmlab eager vs compiled only
    "cpu-small 4/4/256 T128 B16": dict(n_layer=4, n_head=4, n_embd=256, block_size=128, batch=16, vocab=4096,
                                       pos_encoding="rope", norm="rmsnorm", mlp="swiglu", bias=False, peer=False),
}  # fmt: skip
VOCAB = 65
ARCH = ("n_layer", "n_head", "n_embd", "block_size", "pos_encoding", "norm", "mlp", "bias")


def lmlab_model(s) -> GPT:
    return GPT(ModelConfig(**{k: s[k] for k in ARCH if k in s}, vocab_size=s.get("vocab", VOCAB)))


def hf_model(s, attn: str, vocab: int = VOCAB):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=s["n_layer"], n_head=s["n_head"], n_embd=s["n_embd"], n_positions=s["block_size"],
                     vocab_size=vocab, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     activation_function="gelu_pytorch_tanh", use_cache=False, bos_token_id=0, eos_token_id=0,
                     attn_implementation=attn)  # fmt: skip
    model = GPT2LMHeadModel(cfg)
    assert model.config._attn_implementation == attn, model.config._attn_implementation
    return model


def train_steps(model, x, y, dtype, hf: bool, steps: int, compiled=None):
    """A round of `steps` optimizer steps on x's device (bench/gpu.py runs it on a GPU, and then waits for the
    GPU at the end of the round); compiled: the side's compiled forward-and-loss (compiled_loss)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    loss_of = compiled or compiled_loss(model, hf, compile=False)

    def run():
        for _ in range(steps):
            with autocast(x.device, dtype):
                loss = loss_of(x, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        if x.is_cuda:
            torch.cuda.synchronize()

    return run


def compiled_loss(model, hf: bool, compile: bool = True):
    """(x, y) -> the mean next-token loss, compiled with the model: transformers computes its loss in forward;
    lmlab's Trainer compiles its loss_fn with the model (lmlab.trainer), and so does this."""
    if hf:
        forward = torch.compile(model) if compile else model
        return lambda x, y: forward(input_ids=x, labels=x, use_cache=False).loss

    def loss(x, y):
        out = cross_entropy(model(x), y)
        return out.sum / out.n

    return torch.compile(loss) if compile else loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps per timed round")
    ap.add_argument("--compile", action="store_true", help="also time lmlab under torch.compile")
    args = ap.parse_args()
    info = environment("transformers")
    print_environment(info)
    peak = {dtype: measure_peak_flops(torch.device("cpu"), dtype) for dtype in (torch.float32, torch.bfloat16)}
    print(f"measured matmul peak: fp32 {peak[torch.float32] / 1e9:.0f} GFLOP/s, "
          f"bf16 {peak[torch.bfloat16] / 1e9:.0f} GFLOP/s (the MFU denominators)")  # fmt: skip
    results = {}
    for name, s in SHAPES.items():
        torch.manual_seed(0)
        x = torch.randint(0, s.get("vocab", VOCAB), (s["batch"], s["block_size"]))
        y = torch.roll(x, -1, 1)
        tokens = s["batch"] * s["block_size"] * args.steps
        ours = lmlab_model(s)
        models = {"lmlab": ours}
        if s.get("peer", True):
            models.update({"transformers sdpa": hf_model(s, "sdpa"), "transformers eager": hf_model(s, "eager")})
        compiled = {}  # side -> its compiled loss function
        if args.compile:
            import time

            for side in list(models):
                model = lmlab_model(s) if side == "lmlab" else hf_model(s, side.split()[-1])
                loss_of = compiled_loss(model, side != "lmlab")
                t = time.perf_counter()
                for dtype in (torch.float32, torch.bfloat16):
                    train_steps(model, x, y, dtype, side != "lmlab", 1, loss_of)()
                print(f"{name}: {side} torch.compile warm-up (fp32 and bf16) {time.perf_counter() - t:.0f} s")
                models[f"{side} compiled"], compiled[f"{side} compiled"] = model, loss_of
        print(f"\n{name}: {ours.num_params() / 1e6:.2f}M params, {tokens} tokens per round")
        for dtype in (torch.float32, torch.bfloat16):
            hf = {k: k.startswith("transformers") for k in models}
            sides = {k: train_steps(m, x, y, dtype, hf[k], args.steps, compiled.get(k)) for k, m in models.items()}
            times = alternate(sides, rounds=args.rounds, warmup=1)
            rates = {k: spread([tokens / t for t in v]) for k, v in times.items()}
            peers = [k for k in rates if k.startswith("transformers") and not k.endswith("compiled")]
            best_peer = max(peers, key=lambda k: rates[k]["median"]) if peers else None
            ratio = rates["lmlab"]["median"] / rates[best_peer]["median"] if peers else None
            compiled_ratio = None  # compiled lmlab / the fastest peer side, compiled or not
            if args.compile and peers:
                best_any = max((k for k in rates if k.startswith("transformers")), key=lambda k: rates[k]["median"])
                compiled_ratio = rates["lmlab compiled"]["median"] / rates[best_any]["median"]
            mfu = rates["lmlab"]["median"] * ours.flops_per_token() / peak[dtype]
            kind = str(dtype).removeprefix("torch.")
            for k, r in rates.items():
                print(f"  {kind:9} {k:28} {fmt(r):>26} tok/s")
            line = f"  {kind:9} lmlab MFU {mfu:.0%} of the measured {kind} peak"
            if peers:
                line += f"; lmlab / {best_peer} (the faster peer): {ratio:.2f}x"
            if args.compile:
                line += f"; compiled / eager lmlab {rates['lmlab compiled']['median'] / rates['lmlab']['median']:.2f}x"
            if compiled_ratio:
                line += f"; compiled lmlab / {best_any}: {compiled_ratio:.2f}x"
            print(line)
            results[f"{name} {kind}"] = {"tokens_per_s": rates, "best_peer": best_peer, "ratio": ratio, "mfu": mfu,
                                         "compiled_ratio": compiled_ratio,
                                         "rounds_s": {k: v for k, v in times.items()}}  # fmt: skip
    summary = {k: round(v["ratio"], 2) for k, v in results.items() if v["ratio"]}
    print(f"\nlmlab / best transformers: {summary}; median of ratios {statistics.median(summary.values()):.2f}")
    out = {"environment": info, "peak_flops": {str(k): v for k, v in peak.items()}, "args": vars(args),
           "results": results}  # fmt: skip
    print(f"saved {save_result('train_throughput', out)}")


if __name__ == "__main__":
    main()
