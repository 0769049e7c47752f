"""On a CUDA GPU: gpt2-124m training throughput and MFU, eager and under torch.compile, and loss parity with the CPU.

One short script, run where a GPU is lent:
1. The card, torch and CUDA versions, and the bf16 matmul rate measured on random 8192^3 products (the
   datasheet's dense bf16 peak is the MFU denominator; the measured rate is printed beside it).
2. The `gpt2-124m` preset (12 layers, 768 wide, T 1024, vocab 50304) trained by lmlab's own Trainer for
   --steps steps on synthetic tokens, eager and compiled: tokens/s, MFU, peak memory, the compile time. The
   tokens come from a fixed random bigram chain over the first 2,048 ids (4 successors each), so the loss must
   fall from ln(50304) = 10.8 towards ln(4) = 1.39: a check that the run learns, not only that it runs.
3. The same model in a plain loop (fused AdamW, bf16 autocast) against transformers' GPT2LMHeadModel at its
   best (sdpa attention, gelu_pytorch_tanh, use_cache=False), eager and compiled, alternated round by round.
4. Parity: a tiny model trained 40 steps by the Trainer on the CPU and on the GPU from the same weights and
   batches (fp32 with TF32 off; then bf16 autocast on both), the largest loss difference; greedy decoding with
   the KV cache, CPU against GPU, eager and compiled (dynamic shapes).

    python bench/gpu.py [--steps 200] [--batch 16] [--out DIR]
"""

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import alternate, fmt, machine_info, spread  # noqa: E402
from train_throughput import compiled_loss, hf_model, train_steps  # noqa: E402

from lmlab.config import TrainConfig  # noqa: E402
from lmlab.device import measure_peak_flops  # noqa: E402
from lmlab.inference.generate import generate  # noqa: E402
from lmlab.models.config import ModelConfig  # noqa: E402
from lmlab.models.gpt import GPT  # noqa: E402
from lmlab.stages.pretrain import PretrainConfig, next_token_loss  # noqa: E402
from lmlab.trainer import Trainer  # noqa: E402

# Dense bf16 tensor-core peaks from NVIDIA's datasheets (FLOP/s, without sparsity); matched on the device name.
DATASHEET_BF16 = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12,
                  "L4": 121e12, "A10G": 70e12, "RTX 4090": 165e12}  # fmt: skip


def datasheet_peak(name: str) -> float | None:
    for key, value in DATASHEET_BF16.items():  # H100 PCIe before H100: the first match wins
        if key in name:
            return value
    return None


def measured_matmul(device, n: int = 8192, reps: int = 10) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (start.elapsed_time(end) / 1e3)


class BigramTokens:
    """Synthetic token batches from a fixed random chain: each token has 4 equally likely successors.

    A pool of `pool` batches is drawn up front (the chain is sequential, too slow to draw inside a timed step);
    micro-batch i is pool[i % pool], pinned so that its copy to the GPU overlaps the work.
    """

    def __init__(self, vocab: int, batch: int, T: int, seed: int = 0, pool: int = 64):
        g = torch.Generator().manual_seed(seed)
        successors = torch.randint(0, vocab, (vocab, 4), generator=g)
        x = torch.empty(pool * batch, T + 1, dtype=torch.long)
        x[:, 0] = torch.randint(0, vocab, (pool * batch,), generator=g)
        choice = torch.randint(0, 4, (pool * batch, T), generator=g)
        for t in range(T):
            x[:, t + 1] = successors[x[:, t], choice[:, t]]
        x = x.view(pool, batch, T + 1)
        pin = torch.cuda.is_available()
        self.batches = [
            {"inputs": row[:, :-1].contiguous(), "targets": row[:, 1:].contiguous()} for row in x
        ]  # contiguous, as the data loader's batches: a strided view would make torch.compile recompile
        if pin:
            self.batches = [{k: v.pin_memory() for k, v in b.items()} for b in self.batches]

    def __call__(self, index: int) -> dict:
        return self.batches[index % len(self.batches)]


def train_with_trainer(model_cfg, train_cfg, batches, device, peak) -> dict:
    torch.manual_seed(train_cfg.seed)
    model = GPT(model_cfg)
    tokens = train_cfg.batch_size * train_cfg.grad_accum * model_cfg.block_size
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = Trainer(model, train_cfg, None, batches, next_token_loss, device=device, tokens_per_step=tokens,
                      flops_per_token=model.flops_per_token(), peak_flops=peak or 0.0)  # fmt: skip
    t = time.perf_counter()
    result = trainer.fit()
    seconds = time.perf_counter() - t
    records = trainer.history
    steady = [r for r in records if r["step"] > 20 and r["step"] % train_cfg.log_interval == 0]
    out = {"steps": result.step, "seconds": seconds, "losses": [(r["step"], r["loss"]) for r in records],
           "first_step_s": tokens / records[0]["tokens_per_s"]}  # fmt: skip
    if steady:
        out["tokens_per_s"] = spread([r["tokens_per_s"] for r in steady])
        if peak:
            out["mfu"] = out["tokens_per_s"]["median"] * model.flops_per_token() / peak
    if device.type == "cuda":
        out["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
    out["model"] = model
    return out


def parity(device, out: dict):
    """A tiny model trained by the Trainer on the CPU and on the GPU from the same start; greedy decoding on both."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cpu = torch.device("cpu")
    cfg = dict(n_layer=2, n_head=4, n_embd=64, block_size=64, vocab_size=96, pos_encoding="rope", norm="rmsnorm",
               mlp="swiglu", bias=False)  # fmt: skip
    batches = BigramTokens(96, 8, 64, seed=1)
    curves, models = {}, {}
    for dtype in ("float32", "bfloat16"):
        for where in ("cpu", "cuda"):  # (--smoke: the CPU twice)
            train = TrainConfig(max_iters=40, batch_size=8, lr=3e-3, warmup_iters=5, eval_interval=10**9,
                                log_interval=1, dtype=dtype, progress=False, seed=3)  # fmt: skip
            r = train_with_trainer(ModelConfig(**cfg), train, batches, device if where == "cuda" else cpu, None)
            curves[(dtype, where)] = [loss for _, loss in r["losses"]]
            models[(dtype, where)] = r["model"]
        a, b = curves[(dtype, "cpu")], curves[(dtype, "cuda")]
        diff = max(abs(x - y) for x, y in zip(a, b))
        out[f"parity_{dtype}"] = {"max_abs_loss_diff": diff, "cpu_final": a[-1], "cuda_final": b[-1],
                                  "first": a[0], "steps": len(a)}  # fmt: skip
        print(f"parity {dtype}: loss {a[0]:.4f} -> cpu {a[-1]:.4f}, cuda {b[-1]:.4f}; "
              f"largest difference over {len(a)} steps {diff:.2e}", flush=True)  # fmt: skip
    cpu_model = models[("float32", "cpu")].eval()
    gpu_model = GPT(ModelConfig(**cfg)).to(device).eval()  # a copy, also under --smoke
    gpu_model.load_state_dict(cpu_model.state_dict())
    prompt = [1, 2, 3, 4, 5]
    on_cpu = list(generate(cpu_model, prompt, 48, temperature=0.0, seed=0))
    on_gpu = list(generate(gpu_model, prompt, 48, temperature=0.0, seed=0))
    gpu_model.compile(dynamic=True)
    t = time.perf_counter()
    compiled = list(generate(gpu_model, prompt, 48, temperature=0.0, seed=0))
    compile_s = time.perf_counter() - t
    same = sum(a == b for a, b in zip(on_cpu, on_gpu))
    same_compiled = sum(a == b for a, b in zip(on_cpu, compiled))
    out["greedy_decode"] = {"tokens": len(on_cpu), "cuda_matches_cpu": same, "compiled_matches_cpu": same_compiled,
                            "compiled_first_call_s": compile_s}  # fmt: skip
    print(f"greedy KV-cache decoding, 48 tokens: CUDA eager matches the CPU on {same}, CUDA compiled on "
          f"{same_compiled} (compile + decode {compile_s:.0f} s)", flush=True)  # fmt: skip
    torch.backends.cuda.matmul.allow_tf32 = True


def empty_cache():
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200, help="Trainer steps of gpt2-124m, eager and compiled each")
    ap.add_argument("--batch", type=int, default=16, help="micro-batch of 1024-token rows (2 per step)")
    ap.add_argument("--rounds", type=int, default=5, help="alternated rounds of the plain loop against the peer")
    ap.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for gpu.json")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: trainer,peer,parity")
    ap.add_argument("--smoke", action="store_true", help="a tiny model on the CPU: checks the script, not a GPU")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if args.smoke:
        device, name, props = torch.device("cpu"), "cpu (smoke test)", None
    elif torch.cuda.is_available():
        device = torch.device("cuda")
        name, props = torch.cuda.get_device_name(device), torch.cuda.get_device_properties(device)
    else:
        sys.exit("bench/gpu.py needs a CUDA GPU (--smoke checks the script on the CPU)")
    info = {**machine_info(), "gpu": name, "sms": props and props.multi_processor_count,
            "gpu_memory_gb": props and props.total_memory / 1e9, "torch": torch.__version__,
            "cuda": torch.version.cuda, "python": platform.python_version()}  # fmt: skip
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        info["transformers"] = None
    print("environment: " + ", ".join(f"{k} {v}" for k, v in info.items() if k != "slug"), flush=True)
    peak = datasheet_peak(name)
    measured = measure_peak_flops(device, torch.bfloat16) if args.smoke else measured_matmul(device)
    print(f"bf16 peak: datasheet {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s, measured 8192^3 matmul "
          f"{measured / 1e12:.0f} TFLOP/s", flush=True)  # fmt: skip
    results = {"environment": info, "datasheet_bf16": peak, "measured_bf16_matmul": measured, "args": vars(args)}
    path = Path(args.out) / "gpu.json"

    def save():
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")

    torch.backends.cuda.matmul.allow_tf32 = True
    preset = PretrainConfig.build(preset="gpt2-124m")
    model_cfg = preset.model
    model_cfg.vocab_size = 50304
    if args.smoke:
        model_cfg = ModelConfig(n_layer=2, n_head=2, n_embd=64, block_size=128, vocab_size=512)
    batches = BigramTokens(min(model_cfg.vocab_size, 2048), args.batch, model_cfg.block_size)
    denominator = peak or measured
    if "trainer" not in skip:
        for compiled in (False, True):
            train = TrainConfig(max_iters=args.steps, batch_size=args.batch, grad_accum=2, lr=6e-4, min_lr=6e-5,
                                warmup_iters=20, beta2=0.95, eval_interval=10**9, log_interval=10, dtype="bfloat16",
                                compile=compiled, progress=False)  # fmt: skip
            r = train_with_trainer(model_cfg, train, batches, device, denominator)
            del r["model"]
            key = "trainer_compiled" if compiled else "trainer_eager"
            results[key] = r
            losses = r["losses"]
            how = "compiled" if compiled else "eager"
            print(f"gpt2-124m Trainer, {how}: {r['steps']} steps in {r['seconds']:.0f} s "
                  f"(first step {r['first_step_s']:.1f} s), {fmt(r['tokens_per_s'])} tok/s, MFU {r['mfu']:.1%} of "
                  f"{denominator / 1e12:.0f} TFLOP/s, peak memory {r.get('peak_memory_gb', 0):.1f} GB; "
                  f"loss {losses[0][1]:.2f} -> {losses[-1][1]:.3f} (ln 4 = {math.log(4):.3f})", flush=True)  # fmt: skip
            save()
            empty_cache()
    if "peer" not in skip:
        # The plain loop of bench/train_throughput.py: 5 fused-AdamW steps a round on one batch, bf16 autocast;
        # compiled, lmlab's loss is compiled with its model (as the Trainer's --compile), transformers' is inside
        # its compiled forward.
        x, y = (v.to(device) for v in batches(0).values())
        tokens = args.batch * model_cfg.block_size * 5
        shape = vars(model_cfg)
        torch.manual_seed(0)

        def side(key, compiled=False):
            hf = key != "lmlab"
            model = (hf_model(shape, "sdpa", model_cfg.vocab_size) if hf else GPT(model_cfg)).to(device)
            return train_steps(model, x, y, torch.bfloat16, hf, 5, compiled_loss(model, hf) if compiled else None)

        sides = {"lmlab": side("lmlab")}
        if info["transformers"]:
            sides["transformers sdpa"] = side("transformers sdpa")
        compile_s = {}
        for key in list(sides):
            try:
                run = side(key, compiled=True)
                t = time.perf_counter()
                run()
                compile_s[key] = time.perf_counter() - t
                sides[f"{key} compiled"] = run
            except Exception as e:  # a peer that does not compile is reported, not fatal
                print(f"{key}: torch.compile failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
        times = alternate(sides, rounds=args.rounds, warmup=1)
        rates = {k: spread([tokens / t for t in v]) for k, v in times.items()}
        flops = GPT(model_cfg).flops_per_token()
        for k, r in rates.items():
            print(f"  plain loop {k:28} {fmt(r):>32} tok/s, MFU {r['median'] * flops / denominator:.1%}", flush=True)
        results["plain_loop"] = {"tokens_per_s": rates, "compile_s": compile_s, "rounds_s": times}
        for ours, theirs in (("lmlab", "transformers sdpa"), ("lmlab compiled", "transformers sdpa compiled")):
            if ours in rates and theirs in rates:
                ratio = rates[ours]["median"] / rates[theirs]["median"]
                results["plain_loop"][f"{ours} / {theirs}"] = ratio
                print(f"  {ours} / {theirs}: {ratio:.2f}x", flush=True)
        save()
        empty_cache()
    if "parity" not in skip:
        parity(device, results)
        save()
    print(f"saved {path}")


if __name__ == "__main__":
    main()
