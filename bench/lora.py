"""LoRA against full fine-tuning (SFT and DPO), and lmlab's LoRA SFT against TRL's SFTTrainer with PEFT, on SmolLM-135M.

Model: SmolLM-135M's configuration (30 layers, 576 wide, 9 query / 3 key-value heads, SwiGLU 1,536, vocabulary
  49,152, tied embeddings, RoPE 10,000), random weights: this script writes it as a transformers folder and makes it a
  run with `lmlab import`. Its tokenizer is a byte-level BPE of the same vocabulary size built here: the 256 bytes,
  then the data's most frequent byte pairs as merges (lmlab's special tokens complete the 49,152).
Data: single-turn conversations of lmlab's built-in chat mixture as JSONL (`--data FILE`), and preference pairs made
  from them (chosen: the conversation's answer; rejected: another conversation's).
Sides, each its own process (a peak RSS is a process's), in turn round by round, the order rotated each round:
  sft-full, sft-lora, sft-lora-bf16base      `lmlab sft --init RUN --data FILE --batch-size B` (+ LoRA flags)
  dpo-full, dpo-lora, dpo-lora-bf16base      `lmlab dpo --init RUN --data PAIRS --batch-size B/2` (+ LoRA flags),
                                             each with an empty $LMLAB_CACHE, so every run scores the reference
  the six again with -ac                     with --activation-checkpointing: each block recomputed in backward,
                                             the memory mode (TRL's default with PEFT), on both sides of a ratio
  trl-sft-lora                               trl.SFTTrainer + peft on the transformers folder
LoRA: rank 16, alpha 32, no dropout, every linear layer of the blocks (TRL's all-linear), on both sides; the -bf16base
  sides keep the frozen base's block weights in bf16 (lmlab --lora-base-dtype bfloat16).
lmlab: the real commands with their defaults (bf16 autocast on this CPU, fused AdamW, length-bucketed batches), under
  GNU time for the peak RSS of the whole command (loading, data, reference pass, training, the last checkpoint).
  Tokens/s: the real (unpadded) tokens of the steps after --warmup over their seconds (metrics.jsonl logs every step).
TRL (state its versions): SFTConfig with per_device_train_batch_size B, bf16 autocast (the model loads in fp32, as
  lmlab's), gradient checkpointing off (TRL's default is on: it recomputes activations to save memory, slower),
  packing off and no padding-free batches (both need flash attention, which the CPU lacks), completion-only loss on
  prompt/completion conversations with lmlab's chat template, dataloader in the main process, no logging or saving.
  Its tokens/s: the real tokens of the batches (attention mask) after --warmup over their seconds (a TrainerCallback).

    python bench/lora.py [--rounds 3] [--steps 12] [--warmup 3] [--batch 8] [--work DIR]

Saves bench/results/<machine>/lora.json (TRL and peft are benchmark dependencies: pip install -e ".[bench]").
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import environment, fmt, print_environment, save_result, spread

SMOLLM_135M = dict(
    vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
    num_key_value_heads=3, max_position_embeddings=2048, rms_norm_eps=1e-5, tie_word_embeddings=True,
    rope_theta=10000.0, hidden_act="silu", attention_bias=False, mlp_bias=False,
)  # fmt: skip
LORA = ["--lora-rank", "16", "--lora-alpha", "32", "--lora-targets", "all"]
BF16_BASE = [*LORA, "--lora-base-dtype", "bfloat16"]
AC = ["--activation-checkpointing"]
SIDES = {
    "sft-full": ("sft", []), "sft-lora": ("sft", LORA), "sft-lora-bf16base": ("sft", BF16_BASE),
    "trl-sft-lora": ("trl", []),
    "dpo-full": ("dpo", []), "dpo-lora": ("dpo", LORA), "dpo-lora-bf16base": ("dpo", BF16_BASE),
    "sft-full-ac": ("sft", AC), "sft-lora-ac": ("sft", LORA + AC), "sft-lora-bf16base-ac": ("sft", BF16_BASE + AC),
    "dpo-full-ac": ("dpo", AC), "dpo-lora-ac": ("dpo", LORA + AC), "dpo-lora-bf16base-ac": ("dpo", BF16_BASE + AC),
}  # fmt: skip
RATIOS = [  # (side, against, figure), for both modes: as they are and with activation checkpointing (-ac)
    (f"{stage}-{lora}{mode}", f"{stage}-full{mode}", figure)
    for mode in ("", "-ac")
    for stage in ("sft", "dpo")
    for lora in ("lora", "lora-bf16base")
    for figure in ("tokens_per_s", "peak_rss_mb")
] + [("sft-lora", "trl-sft-lora", "tokens_per_s"), ("sft-lora-bf16base", "trl-sft-lora", "tokens_per_s")]


# ---- the model, tokenizer and data ------------------------------------------------------------------------
def conversations(n: int) -> list[list[dict]]:
    from lmlab.data import tasks

    return [c for c in tasks.iter_builtin_conversations(n, seed=7, mixture=tasks.mixture("chat"))]


def byte_pair_tokenizer(texts: list[str], size: int):
    """A byte-level BPE of `size` tokens with lmlab's special tokens: the 256 bytes, then byte pairs as merges, the
    data's most frequent first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from lmlab.tokenizer import SPECIAL_TOKENS

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    counts = Counter()
    for text in texts:
        for piece, _ in level.pre_tokenize_str(text):
            counts.update(zip(piece, piece[1:]))
    pairs = [p for p, _ in counts.most_common()]
    pairs += [(a, b) for a in sorted(alphabet) for b in sorted(alphabet) if (a, b) not in counts]
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    merges = pairs[: size - len(vocab) - len(SPECIAL_TOKENS)]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer, tokenizer.decoder = level, decoders.ByteLevel()
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    assert tokenizer.get_vocab_size() == size
    return tokenizer


def prepare(work: Path, n_conversations: int, n_pairs: int) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from lmlab.interop.huggingface import CHAT_TEMPLATE, import_hf

    chats = conversations(n_conversations)
    hf = work / "smollm-135m-random"
    hf.mkdir()
    tokenizer = byte_pair_tokenizer([m["content"] for c in chats for m in c], SMOLLM_135M["vocab_size"])
    tokenizer.save(str(hf / "tokenizer.json"))
    (hf / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|bos|>", "eos_token": "<|eos|>",
        "pad_token": "<|pad|>", "chat_template": CHAT_TEMPLATE}))  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**SMOLLM_135M)).save_pretrained(str(hf))
    run = import_hf(hf, work / "run")
    with open(work / "sft.jsonl", "w") as f:
        for c in chats:
            f.write(json.dumps({"messages": c}) + "\n")
    with open(work / "trl.jsonl", "w") as f:  # the same conversations as TRL's prompt/completion
        for c in chats:
            f.write(json.dumps({"prompt": c[:-1], "completion": c[-1:]}) + "\n")
    with open(work / "pairs.jsonl", "w") as f:
        for i, c in enumerate(chats[:n_pairs]):
            other = chats[(i + 1) % len(chats)][-1]["content"]
            f.write(json.dumps({"prompt": c[:-1], "chosen": c[-1:], "rejected": [{"role": "assistant",
                                "content": other}]}) + "\n")  # fmt: skip
    return {"hf": str(hf), "run": str(run), "sft": str(work / "sft.jsonl"), "trl": str(work / "trl.jsonl"),
            "pairs": str(work / "pairs.jsonl")}  # fmt: skip


# ---- one side: a process --------------------------------------------------------------------------------
def gnu_time(command: list[str], env: dict, log: Path) -> int:
    """Run command under GNU time; its peak RSS in MB (or an error naming the log)."""
    with open(log, "w") as f:
        done = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", *command], stdout=f, stderr=subprocess.STDOUT,
                              env=env)  # fmt: skip
    text = log.read_text()
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:3])} failed ({done.returncode}); see {log}:\n{text[-2000:]}")
    return int(text.rsplit("maxrss_kb=", 1)[1].split()[0]) // 1024


def lmlab_side(stage: str, flags: list[str], files: dict, args, out: Path) -> dict:
    batch = args.batch if stage == "sft" else args.batch // 2
    data = files["sft"] if stage == "sft" else files["pairs"]
    command = ["lmlab", stage, "--init", files["run"], "--data", data, "--out", str(out), "--max-iters",
               str(args.steps), "--batch-size", str(batch), "--warmup-iters", "2", "--eval-interval", "100000",
               "--log-interval", "1", "--no-progress", *flags]  # fmt: skip
    env = {**os.environ, "LMLAB_CACHE": str(out) + "-cache"}  # no cached reference log-probs
    rss = gnu_time(command, env, out.with_suffix(".log"))
    return {"peak_rss_mb": rss, **step_figures(stage, out, files, batch, args)}


def step_figures(stage: str, run: Path, files: dict, batch: int, args) -> dict:
    """Tokens/s (real tokens of each step over its seconds) and steps/s after the warmup, from metrics.jsonl and the
    run's own batches (the loop logs tokens_per_s = mean tokens per batch / step seconds)."""
    from lmlab.data.preferences import PairBatches, prepare_pairs
    from lmlab.runs import RunFolder
    from lmlab.stages.sft import BucketedBatches, prepare_sft_data

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    tokenizer, record = RunFolder(run).tokenizer(), RunFolder(run).read_config()
    pad, block, seed = tokenizer.special_id("<|pad|>"), record["model"]["block_size"], record["train"]["seed"]
    if stage == "sft":
        batches = BucketedBatches(prepare_sft_data(files["sft"], tokenizer, block, seed).train, batch, seed, pad)
        real = [int((batches(r["step"] - 1)["inputs"] != pad).sum()) for r in records]
    else:
        batches = PairBatches(prepare_pairs(files["pairs"], tokenizer, block + 1).train, batch, seed, pad, {})
        real = [int((batches(r["step"] - 1)["tokens"] != pad).sum()) for r in records]
    seconds = [batches.tokens_per_batch / r["tokens_per_s"] for r in records]
    timed = [(t, s) for t, s, r in zip(real, seconds, records) if r["step"] > args.warmup]
    return step_rates(timed)


def step_rates(timed: list[tuple[int, float]]) -> dict:
    """A run's timed steps, (tokens, seconds) each: its tokens/s (all their tokens over all their seconds: the steps
    differ in length, and a median of rates would weigh a 100-token step as a 1,000-token one) and the median step."""
    return {
        "tokens_per_s": sum(t for t, _ in timed) / sum(s for _, s in timed),
        "step_s": statistics.median(s for _, s in timed),
    }


def trl_side(files: dict, args, out: Path) -> dict:
    command = [sys.executable, __file__, "--trl-side", json.dumps({"files": files, "out": str(out),
               "steps": args.steps, "batch": args.batch, "warmup": args.warmup})]  # fmt: skip
    rss = gnu_time(command, dict(os.environ), out.with_suffix(".log"))
    return {"peak_rss_mb": rss, **json.loads((out / "trl.json").read_text())}


def run_trl(spec: dict):
    """The TRL side, in its own process: SFTTrainer + peft LoRA, timed per step (module docstring)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    files, out = spec["files"], Path(spec["out"])
    tokens, seconds = [], []

    class Timed(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            tokens.append(int(inputs["attention_mask"].sum()))
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    class Clock(TrainerCallback):
        start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            seconds.append(time.perf_counter() - self.start)

    tokenizer = PreTrainedTokenizerFast.from_pretrained(files["hf"])
    model = AutoModelForCausalLM.from_pretrained(files["hf"], dtype=torch.float32)
    rows = [json.loads(line) for line in Path(files["trl"]).read_text().splitlines()]
    config = SFTConfig(
        output_dir=str(out), per_device_train_batch_size=spec["batch"], gradient_accumulation_steps=1,
        max_steps=spec["steps"], learning_rate=2e-4, warmup_steps=2, bf16=True, use_cpu=True,
        gradient_checkpointing=False, packing=False, padding_free=False, completion_only_loss=True,
        max_length=SMOLLM_135M["max_position_embeddings"], report_to=[], logging_strategy="no", save_strategy="no",
        eval_strategy="no", disable_tqdm=True, dataloader_num_workers=0, dataloader_pin_memory=False, seed=1337,
    )  # fmt: skip
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = Timed(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                    peft_config=lora, callbacks=[Clock()])  # fmt: skip
    trainer.remove_callback(PrinterCallback)
    assert not trainer.args.gradient_checkpointing
    trainer.train()
    timed = [(t, s) for k, (t, s) in enumerate(zip(tokens, seconds)) if k >= spec["warmup"]]
    result = {**step_rates(timed), "trainable": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "trl.json").write_text(json.dumps(result))


# ---- the rounds -----------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=12, help="optimizer steps per run")
    ap.add_argument("--warmup", type=int, default=3, help="steps not timed")
    ap.add_argument("--batch", type=int, default=8, help="conversations per SFT step (DPO: half as many pairs)")
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--work", default=None, help="folder for the model and runs (default: a temporary one)")
    ap.add_argument("--name", default="lora", help="the result's JSON name")
    ap.add_argument("--trl-side", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.trl_side:
        run_trl(json.loads(args.trl_side))
        return 0
    info = environment("transformers", "trl", "peft", "tokenizers")
    print_environment(info)
    work = Path(args.work or tempfile.mkdtemp(prefix="lmlab-lora-"))
    t = time.perf_counter()
    files = prepare(work, args.conversations, args.pairs)
    print(f"model, tokenizer and data written in {time.perf_counter() - t:.0f} s ({work})", flush=True)
    sides = args.sides.split(",")
    results: dict[str, list[dict]] = {name: [] for name in sides}
    for k in range(args.rounds):
        for name in sides[k % len(sides) :] + sides[: k % len(sides)]:  # rotate who goes first
            stage, flags = SIDES[name]
            out = work / f"{name}-{k}"
            figures = trl_side(files, args, out) if stage == "trl" else lmlab_side(stage, flags, files, args, out)
            results[name].append(figures)
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(str(out) + "-cache", ignore_errors=True)
            print(f"round {k + 1} {name:>18}: {figures['tokens_per_s']:,.0f} tokens/s, step {figures['step_s']:.2f} s,"
                  f" peak RSS {figures['peak_rss_mb']:,} MB", flush=True)  # fmt: skip
    summary = {name: {key: spread([r[key] for r in rs]) for key in ("tokens_per_s", "step_s", "peak_rss_mb")}
               for name, rs in results.items()}  # fmt: skip
    ratios = {}
    for a, b, key in RATIOS:
        if a in summary and b in summary:
            ratios[f"{a} / {b} {key}"] = summary[a][key]["median"] / summary[b][key]["median"]
    print("\nmedian [min, max] over rounds")
    for name, s in summary.items():
        print(f"{name:>18}: {fmt(s['tokens_per_s'])} tokens/s; step {fmt(s['step_s'], 2)} s; "
              f"peak RSS {fmt(s['peak_rss_mb'])} MB")  # fmt: skip
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}x")
    command = "python bench/lora.py " + " ".join(argv if argv is not None else sys.argv[1:])
    data = {**info, "command": command.strip(), "model": SMOLLM_135M, "settings": {k: v for k, v in vars(args).items()
            if k not in ("trl_side", "work")}, "summary": summary, "ratios": ratios, "rounds": results}  # fmt: skip
    print("saved", save_result(args.name, data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
