"""Stage 1, pre-training: next-token prediction, p(y) = prod_k p(y_k | y_<k), on a text corpus.

A batch is B random windows of T+1 tokens from the token cache; the input is the first T, the
targets the last T; the loss is the cross-entropy of every target. Evaluation is the same loss
on the held-out split, with perplexity and bits per byte.

With carry_state, a recurrent model instead reads B streams of the corpus in order and starts each
block from the (detached) hidden state the previous block ended with: truncated backpropagation
through time (Williams & Peng 1990) whose memory reaches past the block.
"""

from pathlib import Path

import torch

from lmlab.config import RunConfig
from lmlab.data.tokens import prepare_data, prepare_tokenizer, random_batch, sequential_batch
from lmlab.device import measure_peak_flops, resolve_dtype
from lmlab.errors import LmlabError
from lmlab.eval.perplexity import lm_loss, lm_loss_from_logits, metrics_from_loss, sampled_loss
from lmlab.stages.common import main_process_first, new_model, setup_stage
from lmlab.trainer import Trainer


def pretrain(config: RunConfig, out: str | Path | None = None, resume: str | Path | None = None, overrides: dict | None = None) -> Path:
    """Train a language model from scratch (or resume one); returns the run folder."""
    s = setup_stage("pretrain", config, out, resume, overrides)
    config, run, device = s.config, s.run, s.device
    d, t = config.data, config.train
    if s.resuming:
        tokenizer = run.tokenizer()
    else:
        tokenizer = main_process_first(s.dist, lambda: prepare_tokenizer(d.data, d.tokenizer, d.bpe_vocab_size, d.cache_dir or None))
    data = main_process_first(s.dist, lambda: prepare_data(d.data, tokenizer, d.val_fraction, d.cache_dir or None, progress=t.progress and s.dist.is_main))
    data.check_fits(config.model.block_size)
    model = new_model(config, tokenizer.vocab_size, t.seed)
    if not s.resuming and s.dist.is_main:
        run.create(config.to_dict(), "pretrain", tokenizer)
    T = config.model.block_size

    def batch_fn(index: int) -> dict:
        x, y = random_batch(data.train, index, t.batch_size, T, t.seed)
        return {"inputs": x, "targets": y}

    loss_fn = lm_loss
    if t.carry_state:
        batch_fn, loss_fn = carried_state_recipe(config, data.train, s.dist.world_size)

    def eval_fn(model) -> dict:
        loss = sampled_loss(model, data.val, t.eval_iters, t.batch_size, T, t.seed + 1, device)
        return metrics_from_loss(loss, data.bytes_per_token["val"])

    trainer = Trainer(
        model, t, run, batch_fn, loss_fn, eval_fn, device, s.dist,
        tokens_per_step=t.batch_size * T * t.grad_accum * s.dist.world_size,
        flops_per_token=model.flops_per_token() if hasattr(model, "flops_per_token") else 0.0,
        peak_flops=measure_peak_flops(device, resolve_dtype(t.dtype, device)) * s.dist.world_size,
    )
    if s.resuming:
        trainer.resume()
    trainer.fit()
    return run.path


def carried_state_recipe(config: RunConfig, train, world_size: int):
    """Batches that continue in time, and a loss that carries each stream group's hidden state.

    Micro-batch index i = (step * world + rank) * accum + k is stream group i % (world * accum) at
    position i // (world * accum), so each group's blocks follow each other step after step. The
    state is detached (gradients stop at the block boundary) and reset when the streams wrap. It
    is not checkpointed: a resumed run restarts it from zeros.
    """
    if config.model.arch == "gpt":
        raise LmlabError("carry_state needs a recurrent model (--arch rnn, lstm or gru); a GPT has no state to carry")
    t, groups = config.train, world_size * config.train.grad_accum
    states: dict = {}

    def batch_fn(index: int) -> dict:
        group = index % groups
        x, y, restart = sequential_batch(train, index // groups, group, t.batch_size, config.model.block_size, groups)
        return {"inputs": x, "targets": y, "group": torch.tensor(group), "restart": torch.tensor(restart)}

    def loss_fn(model, batch):
        group = int(batch["group"])
        state = None if bool(batch["restart"]) else states.get(group)
        logits = model(batch["inputs"], state=state)
        core = model.module if hasattr(model, "module") else model
        states[group] = tuple(h.detach() for h in core.last_state) if isinstance(core.last_state, tuple) else core.last_state.detach()
        return lm_loss_from_logits(logits, batch["targets"])

    return batch_fn, loss_fn
