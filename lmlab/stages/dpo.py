"""Stage 3, Direct Preference Optimization (Rafailov et al. 2023): the policy learns from pairs directly.

A batch is B preference pairs, run as one forward of 2B sequences (the B chosen, then the B rejected;
TRL's concatenated forward). The loss compares the policy's log-ratio of chosen over rejected with the
reference's (lmlab.losses.preference): with h = [log pi(y_w|x) - log pi(y_l|x)] - [log pi_ref(y_w|x) -
log pi_ref(y_l|x)], DPO minimises -log sigma(beta h). The variants (cdpo, robust, hinge, ipo, ipo_norm)
change the function of h; simpo and orpo need no reference at all. Sequence log-probabilities are sums
over the response tokens (average_logps: per-token means; ipo_norm, simpo and orpo always use means).

The reference is frozen, so its log-probabilities are computed once, before training, and cached on
disk ($LMLAB_CACHE/ref-logps), keyed by a hash of the reference's weights file, the tokenized pairs, the
precision and the device type: a rerun, a resume or a beta sweep on the same data never loads the reference model.
They are computed with the precision training uses, so at step 0 (policy == reference) h is 0 and the
sigmoid loss is ln 2. Dropout is off by default in the policy and always in the reference: with it,
the step-0 log-ratios would be noise rather than 0.
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from lmlab.config import TrainConfig, opt, section_from_dict
from lmlab.data.batching import head_mask
from lmlab.data.preferences import PairBatches, TokenizedPairs, collate_pairs, prepare_pairs
from lmlab.data.tokens import default_cache_dir
from lmlab.device import autocast, resolve_dtype
from lmlab.errors import LmlabError
from lmlab.losses import IGNORE, Loss
from lmlab.losses.preference import DPO_LOSSES, dpo_loss, orpo_loss, packed_sequence_logps, simpo_loss
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.runs import RunFolder, atomic_write, load_run
from lmlab.stages.recipe import Context, FineTuneConfig, Recipe, given_config, new_model, train_stage, uses_lora

LOSSES = (*DPO_LOSSES, "simpo", "orpo")
REFERENCE_FREE = ("simpo", "orpo")
LENGTH_NORMALISED = ("ipo_norm", "simpo", "orpo")


@dataclass
class DPOSection:
    init: str = opt("", "the run to start the policy from (an SFT run)")
    data: str = opt("", "preference pairs: JSONL in TRL's format, a folder holding pairs.jsonl, or a datasets folder")
    ref: str = opt("", "the reference policy run (default: the init run)")
    loss: str = opt("sigmoid", " | ".join(LOSSES), LOSSES)
    beta: float = opt(0.1, "beta: the strength of the KL constraint (simpo: the reward scale; orpo: lambda)")
    label_smoothing: float = opt(0.1, "cdpo and robust: eps, the assumed share of flipped preference labels")
    simpo_gamma: float = opt(0.5, "simpo: the target reward margin gamma")
    average_logps: bool = opt(False, "sigmoid/cdpo/robust/hinge/ipo: per-token mean log-probs instead of sums")
    rpo_alpha: float = opt(
        0.0, "add alpha x the chosen response's per-token NLL (RPO, Pang et al. 2024; TRL's rpo_alpha): keeps it likely"
    )
    dropout: float = opt(0.0, "dropout in the policy while training (the reference never has any)")


def dpo_training_defaults() -> TrainConfig:
    # No weight decay, as TRL (the reference keeps the policy close). The rate is far above TRL's 1e-6:
    # on the cpu-small SFT model's sentiment pairs, lr 5e-5 moved the win rate to 57%, 2e-4 to 68%, 5e-4
    # to 83% (KL 19 nats) and 1e-3 to 89% (KL 32) in 150 steps, about 12 s on 2 CPU cores.
    return TrainConfig(
        max_iters=150, batch_size=16, lr=5e-4, min_lr=1e-6, warmup_iters=10, weight_decay=0.0,
        eval_interval=50, log_interval=5,
    )  # fmt: skip


@dataclass
class DPOConfig(FineTuneConfig):
    STAGE: ClassVar[str] = "dpo"
    PRESETS: ClassVar[dict[str, dict]] = {
        "quick": dict(max_iters=40, eval_interval=20),  # lmlab run --quick
        "gpu": dict(
            batch_size=64, lr=1e-4, min_lr=1e-6, compile=True
        ),  # lmlab run --scale gpu (not yet tuned on a GPU)
        "tiny": dict(max_iters=4, batch_size=4, eval_interval=2, warmup_iters=1, log_interval=1),  # tests
    }
    train: TrainConfig = field(default_factory=dpo_training_defaults)
    dpo: DPOSection = field(default_factory=DPOSection)


def uses_means(d: DPOSection) -> bool:
    return d.loss in LENGTH_NORMALISED or d.average_logps


def preference_loss(d: DPOSection, logps, counts, ref_logps=None) -> Loss:
    """The configured loss of B pairs from the 2B sequence log-probs (chosen first) and their token counts."""
    B = logps.size(0) // 2
    means = logps / counts.clamp(min=1)
    used = means if uses_means(d) else logps
    chosen, rejected = used[:B], used[B:]
    if d.loss == "simpo":
        return simpo_loss(chosen, rejected, d.beta, d.simpo_gamma)
    if d.loss == "orpo":
        return orpo_loss(chosen, rejected, -means[:B], d.beta)
    smoothing = d.label_smoothing if d.loss in ("cdpo", "robust") else 0.0
    loss = dpo_loss(chosen, rejected, ref_logps[:B], ref_logps[B:], d.beta, d.loss, smoothing)
    if d.rpo_alpha:
        # DPO can lower the chosen response's likelihood as long as the rejected falls faster (docs); where the
        # chosen answer is the right one, the NLL term holds it up.
        nll = -means[:B]
        loss = Loss(loss.sum + d.rpo_alpha * nll.sum(), loss.n, {**loss.metrics, "nll_loss": nll.detach().sum()})
    return loss


def batch_logps(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(log pi(y|x), response tokens) of each of the batch's 2B sequences; the output head runs only at the
    response targets (and a few padding positions that keep its input to few shapes: lmlab.data.batching)."""
    targets = batch["targets"]
    head = head_mask(targets, IGNORE)  # (2B, T)
    logits = model(batch["tokens"][:, :-1], target_mask=head)  # (N, V)
    return packed_sequence_logps(logits, targets[head], head.nonzero()[:, 0], targets.size(0))


def make_loss(d: DPOSection):
    def loss(model, batch: dict) -> Loss:
        logps, counts = batch_logps(model, batch)
        ref = None
        if d.loss not in REFERENCE_FREE:
            ref = torch.cat([batch["ref_chosen"], batch["ref_rejected"]])
            if uses_means(d):
                ref = ref / counts.clamp(min=1)
        return preference_loss(d, logps, counts, ref)

    return loss


# ---- the reference's log-probabilities, computed once ---------------------------------------
def pairs_digest(pairs: TokenizedPairs) -> str:
    h = hashlib.sha256()
    for arrays in (pairs.prompts, pairs.chosen, pairs.rejected):
        for a in arrays:
            h.update(np.int64(len(a)).tobytes() + a.astype(np.int64).tobytes())
    return h.hexdigest()


LOGITS_BUDGET = 1 << 25  # logits a reference batch holds at once (128 MB in fp32): a large vocabulary takes fewer pairs


@torch.no_grad()
def compute_logps(model, pairs: TokenizedPairs, pad_id: int, device, dtype, batch_size: int = 32) -> np.ndarray:
    """(n, 2) summed log-probs of each pair's chosen and rejected response, in length-sorted batches of up to
    batch_size pairs, fewer where their response logits would pass LOGITS_BUDGET."""
    model.eval()
    out = np.zeros((len(pairs), 2))
    lengths = [len(p) + max(len(c), len(r)) for p, c, r in zip(pairs.prompts, pairs.chosen, pairs.rejected)]
    responses = [max(len(c), len(r)) for c, r in zip(pairs.chosen, pairs.rejected)]
    order = np.argsort(lengths, kind="stable")
    vocab = model.config.vocab_size
    start = 0
    while start < len(order):
        longest = max(responses[i] for i in order[start : start + batch_size])
        part = order[start : start + max(1, min(batch_size, LOGITS_BUDGET // (2 * longest * vocab)))]
        start += len(part)
        batch = collate_pairs(pairs, part, pad_id, max(lengths[i] for i in part) - 1)
        with autocast(device, dtype):
            logps, _ = batch_logps(model, {k: v.to(device) for k, v in batch.items()})
        out[part] = logps.view(2, -1).T.double().cpu().numpy()
    return out


def reference_logps(ref: str, pairs: TokenizedPairs, pad_id: int, device, dtype, scorer=None) -> np.ndarray:
    """compute_logps of the reference run, from the cache when this reference has scored these pairs before.

    scorer: a function that returns a model holding the reference's weights (the LoRA policy before its adapters);
    by default the reference run is loaded.
    """
    reference = RunFolder(ref)
    if not reference.weights_file().is_file():
        raise LmlabError(f"{ref}: the reference run has no saved weights")
    # The device type too: CPU and CUDA kernels round bf16 differently.
    key = hashlib.sha256(
        f"{reference.weights_sha256()} {pairs_digest(pairs)} {dtype} {torch.device(device).type} v1".encode()
    )
    key = key.hexdigest()[:32]
    path = default_cache_dir() / "ref-logps" / f"{key}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    model = scorer() if scorer else load_run(ref, device).model
    logps = compute_logps(model, pairs, pad_id, device, dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: save_array(p, logps))
    return logps


def save_array(path: Path, array: np.ndarray):
    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to a temporary name
        np.save(f, array, allow_pickle=False)


# ---- the stage ----------------------------------------------------------------------------
def dpo(
    config: DPOConfig | None = None,
    init: str | Path | None = None,
    data: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    overrides: dict | None = None,
) -> Path:
    """Train a policy from `init` on preference pairs `data` (the config's dpo.init and dpo.data); returns the run."""
    config, given = given_config(DPOConfig, config, init, data, overrides)
    if not resume and not (config.dpo.init and config.dpo.data):
        raise LmlabError("dpo needs --init RUN (the SFT policy) and --data PAIRS (preference pairs)")
    return train_stage(config, build, out, resume, given if resume else None)


def policy_record(path: str, role: str) -> dict:
    """The record of a run that can serve as a policy (a causal GPT), or one line saying why it cannot."""
    record = RunFolder(path).read_config()
    if record.get("model_kind") != "causal-lm":
        raise LmlabError(
            f"{path}: is a {record.get('stage')} run of a {record.get('model_kind')} model; the {role} must be a "
            "causal LM (an SFT run)"
        )
    if record["model"].get("arch", "gpt") != "gpt":
        raise LmlabError(f"{path}: the {role} must be a GPT model, the run is {record['model']['arch']}")
    return record


def check_loss_settings(d: DPOSection):
    """The loss's parameters in their ranges, before a run folder is made."""
    if not d.beta > 0:
        raise LmlabError(f"beta must be > 0, got {d.beta} (it scales the log-ratios; <= 0 reverses or erases them)")
    if d.loss == "cdpo" and not 0 < d.label_smoothing < 0.5:
        raise LmlabError(f"cdpo needs 0 < label_smoothing < 0.5, got {d.label_smoothing}")
    if d.loss == "robust" and not 0 <= d.label_smoothing < 0.5:
        raise LmlabError(f"robust needs 0 <= label_smoothing < 0.5, got {d.label_smoothing}")
    if d.rpo_alpha < 0 or (d.rpo_alpha and d.loss in REFERENCE_FREE):
        raise LmlabError(f"rpo_alpha must be >= 0 and goes with the reference losses, got {d.rpo_alpha} ({d.loss})")


def check_reference(ref: str, policy: RunFolder, policy_block_size: int):
    """The reference is a causal GPT with the policy's tokenizer and at least its context."""
    ref_record = policy_record(ref, "reference")
    if ref_record.get("tokenizer_sha256") != policy.tokenizer().sha256():
        raise LmlabError(f"{ref}: the reference has another tokenizer than the policy {policy.path}")
    if ref_record["model"]["block_size"] < policy_block_size:
        raise LmlabError(
            f"{ref}: the reference's context ({ref_record['model']['block_size']} tokens) is shorter than the "
            f"policy's ({policy_block_size}); it cannot score the same pairs"
        )


def build(config: DPOConfig, ctx: Context) -> Recipe:
    d, t = config.dpo, config.train
    check_loss_settings(d)
    if ctx.resuming:
        source, record = ctx.run, ctx.record
    else:
        record = policy_record(d.init, "policy")
        source = RunFolder(d.init)
    # Reference-free losses never score pairs with it, but evaluation measures every policy's KL to it.
    d.ref = d.ref or d.init
    check_reference(d.ref, source, record["model"]["block_size"])
    tokenizer = source.tokenizer()
    model_config = section_from_dict(ModelConfig, {**record["model"], "dropout": d.dropout}, str(source.path))
    splits = prepare_pairs(d.data, tokenizer, model_config.block_size + 1)
    pad_id = tokenizer.special_id("<|pad|>")
    dtype = resolve_dtype(t.dtype, ctx.device)
    model = new_model(build_model, model_config, tokenizer.vocab_size, t.seed)
    loaded = []  # the model already holds the init run's weights (the scorer below loaded them)

    def init_weights(model):
        if not loaded:
            RunFolder(d.init).load_weights(model)

    scorer = None
    if uses_lora(config) and Path(d.ref).resolve() == Path(d.init).resolve():
        # The reference is the base the adapters start from: the policy's own model scores the pairs (adapters come
        # later), and no second copy of the weights is ever loaded (TRL with PEFT does the same).
        def scorer():
            init_weights(model)
            loaded.append(True)
            return model

    per_pair, ref_val = {}, None
    if d.loss not in REFERENCE_FREE:
        ref_train, ref_val = ctx.main_first(
            lambda: [reference_logps(d.ref, s, pad_id, ctx.device, dtype, scorer) if len(s) else None
                     for s in (splits.train, splits.val)]
        )  # fmt: skip
        per_pair = {"ref_chosen": ref_train[:, 0], "ref_rejected": ref_train[:, 1]}
    batches = PairBatches(splits.train, t.batch_size, t.seed, pad_id, per_pair)
    loss = make_loss(d)

    def evaluate(model) -> dict:
        """The loss and its metrics on the held-out pairs, prefixed val_."""
        if not len(splits.val):
            return {}
        val_per_pair = {"ref_chosen": ref_val[:, 0], "ref_rejected": ref_val[:, 1]} if per_pair else {}
        val = PairBatches(splits.val, t.batch_size, 0, pad_id, val_per_pair)
        totals: dict[str, float] = {}
        n = 0
        for k in range(val.buckets.batches_per_epoch):
            result = loss(model, {name: v.to(ctx.device) for name, v in val(k).items()})
            n += result.n
            for name, value in {"loss": result.sum, **result.metrics}.items():
                totals[name] = totals.get(name, 0.0) + float(value)
        return {f"val_{name}": value / n for name, value in totals.items()}

    return Recipe(
        model,
        tokenizer,
        batches,
        loss,
        evaluate,
        tokens_per_batch=batches.tokens_per_batch,
        record={"corpus": record.get("corpus"), "dpo_data": splits.stats},
        init_weights=init_weights,
    )
