"""Language-model evaluation: validation loss, perplexity, and bits per byte.

bits-per-byte = (mean loss in nats per token / ln 2) * (tokens / UTF-8 bytes of the text), which
puts character and BPE models, whose tokens cover different amounts of text, on one scale.
"""

import math
from pathlib import Path

import numpy as np
import torch

from lmlab.data.tokens import random_batch
from lmlab.errors import LmlabError
from lmlab.losses import cross_entropy


def batch_loss(model, x, y) -> tuple[float, int]:
    """The summed next-token loss of inputs x (B, T) with targets y (B, T), and the number of targets."""
    loss = cross_entropy(model(x), y)
    return float(loss.sum), int(loss.n)


def split_prefix(name: str) -> str:
    """The metric prefix of a held-out split: "val_" for the corpus's main one, "val_NAME_" for another (val_chat_)."""
    return "val_" if name == "val" else f"val_{name}_"


def metrics_from_loss(loss: float, bytes_per_token: float, prefix: str = "val_") -> dict:
    return {
        f"{prefix}loss": loss,
        f"{prefix}perplexity": math.exp(min(loss, 50.0)),
        f"{prefix}bpb": loss / math.log(2) / bytes_per_token,
    }


@torch.no_grad()
def sampled_loss(model, split: np.ndarray, iters: int, batch_size: int, block_size: int, seed: int, device) -> float:
    """Mean loss over `iters` fixed random batches (the same batches every call, so evals compare)."""
    total, count = 0.0, 0
    for i in range(iters):
        x, y = random_batch(split, i, batch_size, block_size, seed)
        loss, n = batch_loss(model, x.to(device), y.to(device))
        total, count = total + loss, count + n
    return total / count


def held_out_metrics(model, data, iters: int, batch_size: int, block_size: int, seed: int, device) -> dict:
    """Loss, perplexity and bits per byte of every held-out split of a token corpus (lmlab.data.tokens.TokenData):
    "val" as val_*, each other split the corpus names as val_NAME_*; `iters` fixed batches each (sampled_loss)."""
    metrics = {}
    for name, split in data.held_out.items():
        mean = sampled_loss(model, split, iters, batch_size, block_size, seed, device)
        metrics.update(metrics_from_loss(mean, data.bytes_per_token[name], split_prefix(name)))
    return metrics


@torch.no_grad()
def full_loss(
    model, split: np.ndarray, block_size: int, batch_size: int, device, max_tokens: int = 0, progress=None
) -> float:
    """Mean loss over the whole split (or its first max_tokens), in non-overlapping windows."""
    n = len(split) - 1 if not max_tokens else min(len(split) - 1, max_tokens)
    starts = np.arange(0, n - block_size + 1, block_size)
    total, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        s = starts[i : i + batch_size]
        window = torch.from_numpy(split[s[:, None] + np.arange(block_size + 1)].astype(np.int64))
        loss, k = batch_loss(model, window[:, :-1].to(device), window[:, 1:].to(device))
        total, count = total + loss, count + k
        if progress is not None:
            progress.update(len(s))
    return total / max(count, 1)


def corpus_exists(source: str) -> bool:
    from lmlab.data.corpus import BUILTIN_CORPORA

    return source in BUILTIN_CORPORA or Path(source).exists()


def evaluate_run(
    run, data: str | None = None, max_tokens: int = 0, device="auto", batch_size: int = 16, progress: bool = True
) -> dict:
    """val loss, perplexity and bits per byte of a run on its validation split (or on `data`), and on every other
    held-out split its corpus names (val_chat_* for the default corpus's held-out conversations)."""
    from tqdm.auto import tqdm

    from lmlab.data.tokens import prepare_data
    from lmlab.device import autocast, pick_device, resolve_dtype
    from lmlab.runs import load_run

    device = pick_device(device)
    model, tokenizer, record = load_run(run, device)
    corpus = record.get("corpus")  # None for an imported model: its pre-training corpus is unknown
    if not data and not corpus:
        raise LmlabError(f"{run}: config.yaml names no corpus (an imported model); pass --data PATH to evaluate")
    if not data and not corpus_exists(corpus["data"]):
        raise LmlabError(
            f"{run}: its corpus {corpus['data']} (named in config.yaml) does not exist here; "
            "pass --data PATH to evaluate on another text"
        )
    held_out = {"val_fraction": corpus["val_fraction"], "cache_dir": corpus["cache_dir"] or None} if corpus else {}
    tokens = prepare_data(data or corpus["data"], tokenizer, **held_out)
    T = model.config.block_size
    tokens.check_fits(T)
    dtype = resolve_dtype(record.get("train", {}).get("dtype", "auto"), device)  # an imported run did not train
    metrics = {}
    for name, split in tokens.held_out.items():  # "val" ("tokens" counts it), then any other the corpus names
        n_windows = (min(len(split) - 1, max_tokens or len(split)) - T) // T + 1
        if n_windows < 1:
            continue
        with (
            tqdm(total=n_windows, desc=f"eval {name}", unit="block", leave=False, disable=not progress) as bar,
            autocast(device, dtype),
        ):
            loss = full_loss(model, split, T, batch_size, device, max_tokens, bar)
        metrics.update(metrics_from_loss(loss, tokens.bytes_per_token[name], split_prefix(name)))
        metrics.setdefault("tokens", n_windows * T)
    return metrics
