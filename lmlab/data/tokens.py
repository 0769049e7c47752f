"""The token cache: a corpus tokenized once into a numpy memmap, and batches drawn from it.

The cache lives under `<cache_dir>/tokens/<key>/`, where the key hashes the corpus content, the
tokenizer and the split, so a changed file or tokenizer never reuses stale tokens. Documents are
joined with <|eos|>. The last `val_fraction` of the token stream is the validation split (as in
nanoGPT), unless a built-in corpus names its held-out splits (the default web-chat does: the WEB's
validation chapters as "val", held-out conversations as "chat"); those follow the training tokens.
Tokens are uint16 when the vocabulary fits, else uint32, and are read through a memmap, so corpora
larger than RAM stream from disk.
"""

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lmlab.data.corpus import documents, fingerprint, held_out_documents
from lmlab.errors import LmlabError
from lmlab.tokenizer import SPECIAL_TOKENS, Tokenizer, chunk_lines, train_tokenizer


def default_cache_dir() -> Path:
    return Path(os.environ.get("LMLAB_CACHE", Path.home() / ".cache" / "lmlab"))


def _all_text(source: str):
    for doc in documents(source):
        yield from chunk_lines(doc)


def prepare_tokenizer(source: str, kind: str, vocab_size: int, cache_dir: str | Path | None = None) -> Tokenizer:
    """A tokenizer file path is loaded; 'char' or 'bpe' is trained on the source once and cached."""
    if kind not in ("char", "bpe"):
        return Tokenizer.load(kind)
    specials = ",".join(SPECIAL_TOKENS)  # a tokenizer cached before the tool tokens is not reused
    key = hashlib.blake2b(f"{fingerprint(source)}-{kind}-{vocab_size}-{specials}".encode(), digest_size=16).hexdigest()
    path = Path(cache_dir or default_cache_dir()) / "tokenizers" / f"{key}.json"
    if path.is_file():
        return Tokenizer.load(path)
    tokenizer = train_tokenizer(kind, _all_text(source), vocab_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(path.parent)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tokenizer.save(tmp)
    os.replace(tmp, path)
    return tokenizer


@dataclass
class TokenData:
    """A tokenized corpus: the train and val splits as memmaps, and bytes per token for bpb."""

    train: np.ndarray
    val: np.ndarray
    bytes_per_token: dict  # split -> UTF-8 bytes of text per token (for bits-per-byte)
    path: Path
    held_out: dict  # every held-out split by name ("val" and any other the corpus names)

    def check_fits(self, block_size: int):
        for name, split in (("train", self.train), ("val", self.val)):
            if len(split) <= block_size + 1:
                raise LmlabError(
                    f"the corpus is too short: its {name} split has {len(split)} tokens, "
                    f"and one block needs {block_size + 1}; give more text or a smaller --block-size"
                )


def prepare_data(
    source: str, tokenizer: Tokenizer, val_fraction: float = 0.1, cache_dir=None, progress=True
) -> TokenData:
    """Tokenize a source once into the cache (or find it there) and open it as memmaps."""
    if not 0.0 < val_fraction < 1.0:
        raise LmlabError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    # v2: special-token strings in the text are encoded as text (caches made before that are not reused)
    key = f"{fingerprint(source)}-{tokenizer.sha256()}-{val_fraction}-v2"
    key = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    path = Path(cache_dir or default_cache_dir()) / "tokens" / key
    if not (path / "meta.json").is_file():
        remove_dead_temporaries(path.parent)
        _tokenize_to(path, source, tokenizer, val_fraction, progress)
    meta = json.loads((path / "meta.json").read_text())
    tokens = np.memmap(path / "tokens.bin", dtype=meta["dtype"], mode="r")
    n_train = meta["n_train"]
    splits = {name: tokens[a:b] for name, (a, b) in meta.get("splits", {"val": [n_train, len(tokens)]}).items()}
    return TokenData(tokens[:n_train], splits["val"], meta["bytes_per_token"], path, splits)


def _tokenize_to(path: Path, source: str, tokenizer: Tokenizer, val_fraction: float, progress: bool):
    dtype = np.uint16 if tokenizer.vocab_size <= 1 << 16 else np.uint32
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    held_out = held_out_documents(source)
    bar = tqdm(desc=f"tokenizing {source}", unit="B", unit_scale=True, disable=not progress)
    counts = {}  # split -> (tokens, bytes, documents)
    with open(tmp / "tokens.bin", "wb") as f:
        counts["train"] = _write_documents(f, documents(source), tokenizer, dtype, bar)
        for name, docs in (held_out or {}).items():
            counts[name] = _write_documents(f, docs, tokenizer, dtype, bar)
    bar.close()
    n_tokens, n_docs = sum(n for n, _, _ in counts.values()), sum(d for _, _, d in counts.values())
    if held_out is None:  # the last val_fraction of the stream; its bytes are counted by decoding it
        n_val = max(1, int(n_tokens * val_fraction))
        n_train = n_tokens - n_val
        tokens = np.memmap(tmp / "tokens.bin", dtype=dtype, mode="r")
        val_bytes = sum(
            len(tokenizer.decode(tokens[i : i + (1 << 20)].tolist(), skip_special_tokens=True).encode())
            for i in range(n_train, n_tokens, 1 << 20)
        )
        val_bytes += int(np.count_nonzero(tokens[n_train:] == tokenizer.eos_id))
        del tokens
        n_bytes = sum(b for _, b, _ in counts.values())
        counts = {"train": (n_train, n_bytes - val_bytes, 0), "val": (n_val, val_bytes, 0)}
    splits, start = {}, 0
    for name, (n, _, _) in counts.items():
        splits[name], start = [start, start + n], start + n
    meta = {
        "source": source,
        "dtype": np.dtype(dtype).name,
        "n_tokens": n_tokens,
        "n_train": splits["train"][1],
        "n_documents": n_docs,
        "splits": {name: span for name, span in splits.items() if name != "train"},
        "bytes_per_token": {name: b / max(n, 1) for name, (n, b, _) in counts.items()},
        "tokenizer_sha256": tokenizer.sha256(),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    try:
        os.replace(tmp, path)
    except OSError:  # another process got there first: its entry is the same tokens
        shutil.rmtree(tmp, ignore_errors=True)
        if not (path / "meta.json").is_file():
            raise


def _write_documents(f, docs, tokenizer: Tokenizer, dtype, bar) -> tuple[int, int, int]:
    """Append the documents' tokens to f, each ended by <|eos|> (which counts as one byte, like a newline);
    returns (tokens, bytes, documents) written."""
    eos = np.array([tokenizer.eos_id], dtype=dtype)
    n_tokens = n_bytes = n_docs = 0
    for doc in docs:
        pending = []
        for piece in chunk_lines(doc):
            pending.append(piece)
            if len(pending) == 256:  # encode_batch runs its pieces in parallel
                n_tokens, n_bytes = _write(f, tokenizer, pending, dtype, n_tokens, n_bytes, bar)
                pending = []
        n_tokens, n_bytes = _write(f, tokenizer, pending, dtype, n_tokens, n_bytes, bar)
        eos.tofile(f)
        n_tokens, n_bytes, n_docs = n_tokens + 1, n_bytes + 1, n_docs + 1
    return n_tokens, n_bytes, n_docs


def remove_dead_temporaries(folder: Path):
    """Remove the partial cache entries (NAME.tmpPID, files or folders) of processes that died while writing them."""
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        name, _, pid = p.name.rpartition(".tmp")
        if name and pid.isdigit() and not pid_alive(int(pid)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _write(f, tokenizer, pieces, dtype, n_tokens, n_bytes, bar):
    if not pieces:
        return n_tokens, n_bytes
    for ids, piece in zip(tokenizer.encode_batch(pieces), pieces):
        np.asarray(ids, dtype=dtype).tofile(f)
        size = len(piece.encode())
        n_tokens, n_bytes = n_tokens + len(ids), n_bytes + size
        bar.update(size)
    return n_tokens, n_bytes


def random_batch(split: np.ndarray, index: int, batch_size: int, block_size: int, seed: int):
    """Batch number `index` of random windows: x (B, T) and the next tokens y (B, T), int64.

    The windows depend only on (seed, index), so a resumed or data-parallel run reads exactly
    the batches an uninterrupted single-process run would.
    """
    rng = np.random.default_rng([seed, index])
    starts = rng.integers(0, len(split) - block_size, size=batch_size)
    window = split[starts[:, None] + np.arange(block_size + 1)].astype(np.int64)  # (B, T+1)
    window = torch.from_numpy(window)
    return window[:, :-1], window[:, 1:]


def sequential_batch(split: np.ndarray, step: int, stream: int, batch_size: int, block_size: int, n_streams: int):
    """Block number `step` of B consecutive-in-time rows, for a model that carries state across blocks.

    The split is cut into n_streams * B equal streams; batch row b of stream group `stream` reads
    stream stream * B + b, and step s reads its s-th block of T tokens (wrapping at the end), so
    row b of step s + 1 continues exactly where row b of step s ended.
    """
    length = (len(split) - 1) // (n_streams * batch_size)
    blocks = length // block_size
    offsets = (stream * batch_size + np.arange(batch_size)) * length + (step % blocks) * block_size
    window = torch.from_numpy(split[offsets[:, None] + np.arange(block_size + 1)].astype(np.int64))  # (B, T+1)
    return window[:, :-1], window[:, 1:], step % blocks == 0
