"""DPO training throughput, preference pairs per second: lmlab's DPO step against TRL's DPOTrainer.

Same model shape, same pairs, same loss, one process, rounds alternated (lmlab K steps, then TRL K steps,
and again), so that both sides see the same machine load. Reported: each side's pairs/s over the rounds as
median [min, max], the ratio of the medians, and each side's one-off reference pass; with them the machine (CPU
model, cores, torch threads, native bf16) and the torch, transformers and trl versions (bench/common.py).

lmlab: the real training step, Trainer.train_step (fused AdamW, grad clip 1.0, bf16 autocast where the CPU
  multiplies bf16 natively, else fp32) with lmlab.stages.dpo's loss and the DPO defaults (DPOConfig().train:
  16 pairs a step, sigmoid loss, beta 0.1), on the cpu-small GPT (4 layers, 4 heads, 256 wide, RoPE, RMSNorm,
  SwiGLU, no biases, tied embeddings, block 128, BPE 4096), freshly initialised. Batches are PairBatches:
  length-bucketed, each padded to a rounded length (lmlab.data.batching).
TRL: trl.DPOTrainer on a transformers LlamaForCausalLM of the same shape and parameter count (intermediate
  size = lmlab's SwiGLU hidden, tied embeddings, no biases), random init, with lmlab's tokenizer.json wrapped
  in PreTrainedTokenizerFast. DPOConfig: per_device_train_batch_size 16, gradient_accumulation_steps 1,
  learning_rate = lmlab's default, beta 0.1, loss_type sigmoid, max_length 128, bf16 exactly when lmlab uses
  it (checked: the training forward runs in bf16), use_cpu, gradient_checkpointing off (TRL turns it on by default: it
  recomputes activations to save memory, which this 4M-parameter model does not need), no logging, saving
  or evaluation, dataloader_num_workers 0; its default collator pads each batch to its longest sequence.
Data: standard-format pairs built from World English Bible verses (no model judged them; only their shapes
  matter here): prompt = the first 2-8 words of a verse, chosen = its next 10-20 words, rejected = 10-20 words
  from the same place in another verse. TRL appends EOS to each standard response; lmlab's pairs get the same
  EOS appended, and the bench checks that both sides train on identical token ids.
Reference log-probs: both sides compute them once, before training, with the policy's initial weights
  (policy == reference at step 0, so the first loss is ln 2 on both sides), and read them from the batches,
  so no step runs a reference forward. lmlab: compute_logps over all pairs (length-sorted batches of 32); the
  real stage also caches the result on disk, keyed by the reference's weights, so a rerun skips even this
  pass. TRL: precompute_ref_log_probs=True, one pass in DPOTrainer.__init__ (batches of 16), stored as
  dataset columns. The step times exclude these passes; they are timed and reported separately.
Timing: TRL trains in one trainer.train() call; a TrainerCallback marks step ends, and at the end of every
  K-th step it runs lmlab's K steps, then restarts TRL's clock. A TRL step thus counts everything its loop
  does between two steps (batch collation, forward, backward, clipping, optimizer, scheduler, metrics); an
  lmlab step is train_step (batch collation, forward, backward, clipping, optimizer). The first --warmup
  steps of each side are not timed.

    python bench/dpo_throughput.py [--rounds 5] [--steps 10] [--warmup 3] [--threads 0] [--pairs 512]

TRL is an optional benchmark dependency (pip install trl). Results, with the environment, are also saved as JSON
in bench/results/<machine>/dpo_throughput_trl_<sdpa|eager>.json.
"""

import argparse
import math
import os
import random
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from common import environment, fmt, print_environment, save_result, spread

from lmlab.data.corpus import bible_verses
from lmlab.data.preferences import PairBatches, PreferencePair, TokenizedPairs, tokenize_pairs
from lmlab.data.tokens import prepare_tokenizer
from lmlab.device import resolve_dtype
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.stages.dpo import DPOConfig, compute_logps, make_loss
from lmlab.stages.pretrain import PretrainConfig
from lmlab.stages.recipe import new_model
from lmlab.tokenizer import Tokenizer
from lmlab.trainer import Trainer

CPU = torch.device("cpu")
MAX_LENGTH = 128  # TRL's max_length: tokens of a whole sequence; the pairs here are far shorter


def make_pairs(n: int, seed: int = 0) -> list[PreferencePair]:
    """n standard pairs from distinct WEB verses (module docstring), the same for every run with the same seed."""
    rng = random.Random(seed)
    verses = [v.text.split() for v in bible_verses("web")]
    long = [words for words in verses if len(words) >= 8 + 20]  # room for the longest prompt and response
    if n > len(long):
        raise SystemExit(f"--pairs {n}: at most {len(long)} (verses long enough)")
    pairs = []
    for words, other in zip(rng.sample(long, n), rng.sample(long, n)):
        k = rng.randint(2, 8)
        chosen, rejected = words[k : k + rng.randint(10, 20)], other[k : k + rng.randint(10, 20)]
        pairs.append(PreferencePair(" ".join(words[:k]), " " + " ".join(chosen), " " + " ".join(rejected)))
    return pairs


def with_eos(pairs: TokenizedPairs, eos_id: int) -> TokenizedPairs:
    """The pairs with EOS after each response, as TRL's DPOTrainer appends it to standard-format responses."""
    pairs.chosen = [np.append(ids, eos_id) for ids in pairs.chosen]
    pairs.rejected = [np.append(ids, eos_id) for ids in pairs.rejected]
    return pairs


class DtypeWatch:
    """The output dtype of a model's first Linear layer in its first training forward: what autocast did there."""

    def __init__(self, model: torch.nn.Module):
        self.dtype = None
        linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        self.handle = linear.register_forward_hook(self.record)

    def record(self, module, inputs, output):
        if module.training and torch.is_grad_enabled():  # not a reference pass
            self.dtype = output.dtype
            self.handle.remove()  # seen once: no hook in the timed steps


# ---- lmlab ----------------------------------------------------------------------------------
class LmlabSide:
    """lmlab's DPO training step on the cpu-small GPT, with reference log-probs computed once up front."""

    def __init__(self, model_config: ModelConfig, tokenizer: Tokenizer, pairs: TokenizedPairs):
        config = DPOConfig.build(overrides={"progress": False, "device": "cpu"})
        t = config.train
        pad_id = tokenizer.special_id("<|pad|>")
        self.dtype = resolve_dtype(t.dtype, CPU)
        model = new_model(build_model, model_config, tokenizer.vocab_size, t.seed)
        start = time.perf_counter()
        ref = compute_logps(model, pairs, pad_id, CPU, self.dtype)  # (n, 2): chosen, rejected
        self.ref_seconds = time.perf_counter() - start
        model.train()  # compute_logps left it in eval mode; Trainer.fit does this before its first step
        self.batches = PairBatches(
            pairs, t.batch_size, t.seed, pad_id, {"ref_chosen": ref[:, 0], "ref_rejected": ref[:, 1]}
        )
        self.padded_tokens, self.pairs_seen = 0, 0
        self.trainer = Trainer(model, t, None, self.batch, make_loss(config.dpo), device=CPU)
        self.batch_size, self.loss_type, self.beta = t.batch_size, config.dpo.loss, config.dpo.beta
        self.watch = DtypeWatch(model)
        self.first_loss = None

    def batch(self, index: int) -> dict:
        batch = self.batches(index)
        self.padded_tokens += batch["tokens"][:, :-1].numel()  # the positions the forward computes
        self.pairs_seen += batch["pair"].numel()
        return batch

    def run(self, steps: int) -> float:
        """Seconds for `steps` training steps."""
        start = time.perf_counter()
        for _ in range(steps):
            loss, _, _ = self.trainer.train_step(self.trainer.model)
            if self.first_loss is None:
                self.first_loss = loss
        return time.perf_counter() - start


# ---- TRL ------------------------------------------------------------------------------------
def trl_model(model_config: ModelConfig, vocab_size: int, seed: int, attn: str = "sdpa"):
    """A transformers Llama of the cpu-small GPT's shape and parameter count, randomly initialised."""
    from transformers import LlamaConfig, LlamaForCausalLM

    C = model_config.n_embd
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=C,
        intermediate_size=64 * math.ceil(8 * C / 3 / 64),  # lmlab's SwiGLU hidden (lmlab.models.gpt.MLP)
        num_hidden_layers=model_config.n_layer,
        num_attention_heads=model_config.n_head,
        num_key_value_heads=model_config.kv_heads,
        max_position_embeddings=model_config.block_size,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": model_config.rope_theta},
        tie_word_embeddings=True,
        attention_bias=False,
        mlp_bias=False,
        attn_implementation=attn,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def trl_trainer(model, tokenizer_file: str, pairs: list[PreferencePair], bf16: bool, max_steps: int, out: str):
    """TRL's DPOTrainer with the settings of the module docstring; it times its reference pass (ref_seconds),
    counts the padded tokens it computes on, and keeps its first loss."""
    from datasets import Dataset
    from transformers import PreTrainedTokenizerFast
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig as TRLConfig
    from trl import DPOTrainer

    class TimedDPOTrainer(DPOTrainer):
        ref_seconds, padded_tokens, pairs_seen, first_loss = 0.0, 0, 0, None

        def _precompute_ref_logps(self, dataset, name, batch_size):
            start = time.perf_counter()
            dataset = super()._precompute_ref_logps(dataset, name, batch_size)
            self.ref_seconds += time.perf_counter() - start
            return dataset

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            self.padded_tokens += inputs["input_ids"].numel()
            self.pairs_seen += inputs["input_ids"].size(0) // 2
            if self.first_loss is None:
                self.first_loss = float((loss[0] if return_outputs else loss).detach())
            return loss

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=tokenizer_file, pad_token="<|pad|>", eos_token="<|eos|>")
    args = TRLConfig(
        output_dir=out,
        per_device_train_batch_size=16,
        gradient_accumulation_steps=1,
        max_steps=max_steps,
        learning_rate=DPOConfig().train.lr,  # lmlab's default, so both take the same steps
        beta=0.1,
        loss_type=["sigmoid"],
        max_length=MAX_LENGTH,
        precompute_ref_log_probs=True,
        bf16=bf16,
        use_cpu=True,
        activation_checkpointing=False,  # transformers 5's name for gradient_checkpointing
        report_to=[],
        logging_strategy="no",
        save_strategy="no",
        eval_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        seed=1337,
    )
    dataset = Dataset.from_list([{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in pairs])
    trainer = TimedDPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)  # it prints train()'s summary line even with logging off
    assert not trainer.args.gradient_checkpointing
    return trainer


def same_ids(trainer, pairs: TokenizedPairs) -> bool:
    """Whether TRL's tokenized train set holds exactly lmlab's prompt, chosen and rejected ids, pair by pair."""
    data = trainer.train_dataset
    if len(data) != len(pairs):
        return False
    columns = {"prompt_ids": pairs.prompts, "chosen_ids": pairs.chosen, "rejected_ids": pairs.rejected}
    return all(
        list(theirs) == ours.tolist()
        for column, arrays in columns.items()
        for theirs, ours in zip(data[column], arrays)
    )


def alternating_rounds(trainer, lmlab: LmlabSide, rounds: int, steps: int, warmup: int) -> tuple[list, list]:
    """Seconds of each round's `steps` steps, (lmlab, TRL), alternating inside one trainer.train() call."""
    from transformers import TrainerCallback

    lmlab_seconds, trl_seconds = [], []

    class Alternate(TrainerCallback):
        start = 0.0

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            done = state.global_step - warmup
            if done < 0 or done % steps:
                return
            if done:
                trl_seconds.append(now - self.start)
            if len(lmlab_seconds) < rounds:
                if not lmlab_seconds:
                    lmlab.run(warmup)
                lmlab_seconds.append(lmlab.run(steps))
            self.start = time.perf_counter()

    trainer.add_callback(Alternate())
    trainer.train()
    return lmlab_seconds, trl_seconds


# ---- the benchmark --------------------------------------------------------------------------
def summary(seconds: list[float], pairs_per_step: int, steps: int) -> dict:
    rates = [pairs_per_step * steps / s for s in seconds]
    return {"pairs_per_s": rates, **spread(rates)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (lmlab, then TRL)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps of each side a round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each side before the first round")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave the default)")
    parser.add_argument("--pairs", type=int, default=512, help="preference pairs in the data set (a multiple of 16)")
    parser.add_argument(
        "--trl-attn", default="sdpa", choices=("sdpa", "eager"), help="transformers' attention kernel for TRL's model"
    )
    args = parser.parse_args()
    try:
        import transformers
        import trl  # noqa: F401 (here only to tell whether it is installed)
    except ImportError:
        print("TRL is not installed: it is an optional benchmark dependency (pip install trl)", file=sys.stderr)
        sys.exit(2)
    if min(args.rounds, args.steps, args.warmup) < 1 or args.pairs < 16 or args.pairs % 16:
        parser.error("--rounds, --steps and --warmup must be at least 1, --pairs a positive multiple of 16")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    info = environment("transformers", "trl")  # the machine, these threads, the versions
    os.environ.setdefault("TQDM_DISABLE", "1")  # TRL's reference pass and datasets' maps draw progress bars
    import datasets

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    # TRL 1.16 still reads the gradient_checkpointing names that transformers 5 deprecated: noise, not news.
    warnings.filterwarnings("ignore", message=r".*deprecated and will be removed in v6", category=FutureWarning)

    preset = PretrainConfig.build("cpu-small")
    model_config, d = preset.model, preset.data
    tokenizer = prepare_tokenizer(d.data, d.tokenizer, d.bpe_vocab_size)
    text_pairs = make_pairs(args.pairs)
    # Room for the EOS appended below: TRL's max_length bounds prompt + response + EOS.
    pairs = with_eos(tokenize_pairs(tokenizer, text_pairs, MAX_LENGTH - 1), tokenizer.eos_id)
    if pairs.dropped or pairs.truncated:
        raise SystemExit("some pairs were dropped or truncated; the pairs are meant to fit whole")

    lmlab = LmlabSide(model_config, tokenizer, pairs)
    bf16 = lmlab.dtype == torch.bfloat16
    model = trl_model(model_config, tokenizer.vocab_size, seed=1337, attn=args.trl_attn)
    with tempfile.TemporaryDirectory() as out:
        tokenizer_file = os.path.join(out, "tokenizer.json")
        tokenizer.save(tokenizer_file)
        trainer = trl_trainer(model, tokenizer_file, text_pairs, bf16, args.warmup + args.rounds * args.steps, out)
        torch.set_num_threads(threads)  # in case the trainer's setup changed it: both sides run on the same threads
        if not same_ids(trainer, pairs):
            raise SystemExit("TRL and lmlab tokenized the pairs differently; the comparison would not be like for like")
        trl_watch = DtypeWatch(trainer.model)
        lmlab_seconds, trl_seconds = alternating_rounds(trainer, lmlab, args.rounds, args.steps, args.warmup)

    wanted = lmlab.dtype
    if trl_watch.dtype != wanted or lmlab.watch.dtype != wanted:
        raise SystemExit(f"autocast: wanted {wanted}, got lmlab {lmlab.watch.dtype}, TRL {trl_watch.dtype}")
    B = lmlab.batch_size
    sides = {"lmlab": summary(lmlab_seconds, B, args.steps), "trl": summary(trl_seconds, B, args.steps)}
    ratio = sides["lmlab"]["median"] / sides["trl"]["median"]
    tokens_per_pair = sum(2 * len(p) + len(c) + len(r) for p, c, r in zip(pairs.prompts, pairs.chosen, pairs.rejected))
    tokens_per_pair /= len(pairs)
    padded = {"lmlab": lmlab.padded_tokens / lmlab.pairs_seen, "trl": trainer.padded_tokens / trainer.pairs_seen}
    n_params = sum(p.numel() for p in lmlab.trainer.model.parameters())
    trl_params = sum(p.numel() for p in trainer.model.parameters())
    dtype_note = "bf16 autocast: the CPU has AVX512-BF16/AMX" if bf16 else "fp32: the CPU lacks native bf16"

    print("DPO training throughput, lmlab vs TRL's DPOTrainer (preference pairs/s, steady state)")
    print_environment(info)
    print(f"dtype {str(wanted).split('.')[-1]} ({dtype_note})")
    print(
        f"model {model_config.n_layer} layers x {model_config.n_embd}, {model_config.n_head} heads, vocab "
        f"{tokenizer.vocab_size}: lmlab GPT {n_params / 1e6:.3f}M params, transformers Llama {trl_params / 1e6:.3f}M "
        f"(attention: {args.trl_attn})"
    )
    print(
        f"data {len(pairs)} pairs, {B} pairs a step on both sides, {lmlab.loss_type} loss, beta {lmlab.beta}; "
        f"{tokens_per_pair:.1f} tokens a pair (prompt + chosen + EOS, prompt + rejected + EOS), identical ids"
    )
    print(
        f"tokens a pair as computed, padding included: lmlab {padded['lmlab']:.1f} (length buckets), "
        f"TRL {padded['trl']:.1f} (each batch padded to its longest)"
    )
    print(
        f"step-0 loss: lmlab {lmlab.first_loss:.4f}, TRL {trainer.first_loss:.4f} (ln 2 = {math.log(2):.4f}); "
        f"first training forward's Linear output: {str(wanted).split('.')[-1]} on both sides"
    )
    print(
        f"reference log-probs, one pass before training (outside the step times): lmlab {lmlab.ref_seconds:.2f} s, "
        f"TRL {trainer.ref_seconds:.2f} s"
    )
    print(
        f"\n{args.rounds} rounds of {args.steps} steps a side, lmlab then TRL "
        f"(after {args.warmup} untimed warm-up step(s) each):"
    )
    print("  round  lmlab pairs/s  TRL pairs/s")
    for r, (a, b) in enumerate(zip(sides["lmlab"]["pairs_per_s"], sides["trl"]["pairs_per_s"]), 1):
        print(f"  {r:5d}  {a:13.1f}  {b:11.1f}")
    for name, label in (("lmlab", "lmlab"), ("trl", "TRL  ")):
        s = sides[name]
        print(f"{label}  {fmt(s, 1)} pairs/s (median [min, max] over the rounds)")
    print(f"ratio of medians, lmlab / TRL: {ratio:.2f}x")

    path = save_result(
        f"dpo_throughput_trl_{args.trl_attn}",
        {
            "environment": info,
            "dtype": str(wanted).split(".")[-1],
            "settings": vars(args),
            "pairs_per_step": B,
            "loss": lmlab.loss_type,
            "beta": lmlab.beta,
            "params": {"lmlab": n_params, "trl": trl_params},
            "tokens_per_pair": tokens_per_pair,
            "padded_tokens_per_pair": padded,
            "step0_loss": {"lmlab": lmlab.first_loss, "trl": trainer.first_loss},
            "reference_pass_seconds": {"lmlab": lmlab.ref_seconds, "trl": trainer.ref_seconds},
            "throughput": sides,
            "ratio_of_medians": ratio,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
