"""Quality per wall-clock on Tiny Shakespeare (characters; first 90% train, last 10% val, as nanoGPT).

1. The `shakespeare-char` preset (nanoGPT's CPU recipe: 4 layers, 4 heads, 128 wide, block 64,
   batch 12, 2000 iterations, lr 1e-3, fp32): full-validation loss and training wall-clock.
   nanoGPT's published figure for this recipe is val loss 1.88.
2. lmlab's best settings in the same wall-clock: the iteration count is set from a short timing
   run so that the cosine schedule ends inside the budget.

    python bench/shakespeare.py --data ../shared/data/tinyshakespeare.txt [--budget SECONDS]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from lmlab.eval.perplexity import evaluate_run
from lmlab.stages.pretrain import PretrainConfig, pretrain

BEST = dict(
    pos_encoding="rope",
    norm="rmsnorm",
    mlp="swiglu",
    bias=False,
    dtype="bfloat16",
    n_layer=6,
    n_head=4,
    n_embd=128,
    block_size=64,
    batch_size=16,
    lr=3e-3,
    min_lr=1e-4,
    warmup_iters=50,
    beta2=0.99,
    eval_interval=100000,
)


def timed_pretrain(config, out):
    t = time.perf_counter()
    pretrain(config, out=out)
    seconds = time.perf_counter() - t
    steps = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return seconds, steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument(
        "--budget", type=float, default=0, help="seconds for the best-settings run (default: the preset's time)"
    )
    ap.add_argument("--skip-preset", action="store_true")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override the best settings")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        budget = args.budget
        if not args.skip_preset:
            cfg = PretrainConfig.build("shakespeare-char", overrides={"data": args.data, "progress": False})
            seconds, _ = timed_pretrain(cfg, f"{tmp}/preset")
            m = evaluate_run(f"{tmp}/preset", device="cpu", progress=False)
            print(
                f"shakespeare-char preset: 2000 iters in {seconds:.0f} s, "
                f"full val loss {m['val_loss']:.4f} (bpb {m['val_bpb']:.3f})"
            )
            budget = budget or seconds
        best = {**BEST, **dict(kv.split("=", 1) for kv in args.set)}
        probe = PretrainConfig.build(
            overrides={
                "data": args.data,
                "tokenizer": "char",
                "progress": False,
                **best,
                "max_iters": 40,
                "warmup_iters": 5,
                "log_interval": 10,
            }
        )
        probe_s, steps = timed_pretrain(probe, f"{tmp}/probe")
        step_s = (
            probe.train.batch_size * probe.model.block_size / steps[-1]["tokens_per_s"]
        )  # steady state, after warm-up
        overhead = probe_s - 40 * step_s  # start-up and the final evaluation
        iters = int((budget - overhead) / step_s * 0.97)
        cfg = PretrainConfig.build(
            overrides={"data": args.data, "tokenizer": "char", "progress": False, **best, "max_iters": iters}
        )
        seconds, _ = timed_pretrain(cfg, f"{tmp}/best")
        m = evaluate_run(f"{tmp}/best", device="cpu", progress=False)
        print(
            f"best settings {best}: {iters} iters in {seconds:.0f} s (budget {budget:.0f} s), "
            f"full val loss {m['val_loss']:.4f} (bpb {m['val_bpb']:.3f})"
        )


if __name__ == "__main__":
    main()
