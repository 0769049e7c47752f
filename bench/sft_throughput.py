"""SFT training throughput against pre-training throughput at the same model shape.

Both run the real Trainer step (same optimizer, precision and loss) on the cpu-small model with a
fresh init: pre-training on B x T windows (T = block_size), SFT on the built-in task mixture with
the SFT defaults (length-bucketed, right-padded batches). What is compared: tokens trained per second, each
round of each side training about the same number of tokens (SFT: real tokens, padding excluded; the padded
figure is printed too). The sides alternate round by round (bench/common.py); medians [min, max].

    python bench/sft_throughput.py [--steps 10] [--rounds 5] [--preset cpu-small] [--threads 2]
"""

import argparse

import torch
from common import alternate, environment, fmt, print_environment, save_result, spread

from lmlab.data import tasks
from lmlab.data.tokens import prepare_tokenizer
from lmlab.device import pick_device
from lmlab.models import build_model
from lmlab.stages.pretrain import PretrainConfig, next_token_loss
from lmlab.stages.recipe import new_model
from lmlab.stages.sft import BucketedBatches, SFTConfig, prepare_sft_data, sft_loss
from lmlab.trainer import Trainer


def run_steps(trainer: Trainer, steps: int):
    def run():
        for _ in range(steps):
            trainer.train_step(trainer.model)

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--steps", type=int, default=10, help="pre-training steps per round (SFT: as many tokens)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave the default)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    info = environment()
    print_environment(info)
    config = PretrainConfig.build(args.preset, overrides={"progress": False, "device": str(device)})
    d, T = config.data, config.model.block_size
    tokenizer = prepare_tokenizer(d.data, d.tokenizer, d.bpe_vocab_size)

    pre_cfg = config.train
    B = pre_cfg.batch_size
    tokens = torch.randint(0, tokenizer.vocab_size, (B, T + 1), generator=torch.Generator().manual_seed(0))

    def pre_batch(index):
        return {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]}

    pre = Trainer(
        new_model(build_model, config.model, tokenizer.vocab_size, 0),
        pre_cfg,
        None,
        pre_batch,
        next_token_loss,
        device=device,
    )

    sft_cfg = SFTConfig.build(overrides={"progress": False, "device": str(device), "dtype": pre_cfg.dtype}).train
    original = tasks.BUILTIN_SIZE
    tasks.BUILTIN_SIZE = 4000  # enough batches for the benchmark; the length mix is that of the full data
    data = prepare_sft_data("tasks", tokenizer, T, 0)
    tasks.BUILTIN_SIZE = original
    batches = BucketedBatches(data.train, sft_cfg.batch_size, 0, tokenizer.special_id("<|pad|>"))
    sft = Trainer(
        new_model(build_model, config.model, tokenizer.vocab_size, 0), sft_cfg, None, batches, sft_loss, device=device
    )
    padded = sum(batches(i)["inputs"].numel() for i in range(batches.batches_per_epoch)) / batches.batches_per_epoch
    accum = sft_cfg.grad_accum  # micro-batches a step
    sft_step_tokens, pre_step_tokens = accum * batches.tokens_per_batch, pre_cfg.grad_accum * B * T
    sft_steps = max(1, round(args.steps * pre_step_tokens / sft_step_tokens))  # equal tokens a round
    times = alternate({"pretrain": run_steps(pre, args.steps), "sft": run_steps(sft, sft_steps)}, args.rounds, 1)
    pre_rate = spread([args.steps * pre_step_tokens / t for t in times["pretrain"]])
    sft_rate = spread([sft_steps * sft_step_tokens / t for t in times["sft"]])
    sft_padded = spread([sft_steps * accum * padded / t for t in times["sft"]])

    print(
        f"device {device}, threads {torch.get_num_threads()}, dtype {pre.dtype}, "
        f"model {config.model.n_layer}x{config.model.n_embd}, block {T}"
    )
    print(f"pretrain: {fmt(pre_rate)} tokens/s  ({B} x {T} tokens a step, {args.steps} steps a round)")
    print(f"sft:      {fmt(sft_rate)} tokens/s  ({accum} x {batches.tokens_per_batch:.0f} real tokens a step, "
          f"{sft_steps} steps a round; {fmt(sft_padded)} tokens/s with padding)")  # fmt: skip
    ratio = sft_rate["median"] / pre_rate["median"]
    print(f"ratio sft / pretrain: {ratio:.2f}")
    out = {"environment": info, "args": vars(args), "pretrain": pre_rate, "sft": sft_rate, "sft_padded": sft_padded,
           "ratio": ratio}  # fmt: skip
    print(f"saved {save_result('sft_throughput', out)}")


if __name__ == "__main__":
    main()
