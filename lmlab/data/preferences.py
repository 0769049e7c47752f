"""Preference pairs: a prompt with a chosen and a rejected response, the data of reward models and DPO.

Two row formats, TRL's paired preference formats, one JSON object per line:

    standard:        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
    conversational:  {"prompt": [messages...], "chosen": [{"role": "assistant", "content": "Blue."}],
                      "rejected": [{"role": "assistant", "content": "Green."}]}

A standard response is plain text that continues the prompt as written: no template, nothing appended.
A conversational prompt is a conversation (lmlab.data.conversations) that may end with a user turn, and
each response is exactly one assistant message. A file may mix the two (the pairs of a mixture of preference
tasks, lmlab.data.preference_tasks), each row tokenized by its own format; other fields of a
row ("chosen_score", "task", ...) are kept in PreferencePair.extra and written back. A pair whose chosen
equals its rejected teaches nothing and is skipped, with one warning. Files: JSONL, a folder holding
pairs.jsonl, or a Hugging Face `datasets` save_to_disk folder (when `datasets` is installed).

Tokenizing rules (tokenize_pairs): the prompt and the response are encoded separately and concatenated,
as TRL does, so the prompt/response boundary is exact even where BPE would merge across it.
    standard:        prompt ids = encode(prompt),          response ids = encode(response)
    conversational:  prompt ids = render_prompt(messages),  response ids = encode(content) + <|end|>
(render_prompt ends with <|assistant|>; the <|end|> teaches the model to stop). max_tokens bounds a whole
sequence, prompt + response. A pair whose prompt leaves no room for one response token is dropped and
counted, never cut into garbage; a response longer than the room left is cut at its end, and the pair
counted as truncated.
"""

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lmlab.data.batching import LengthBuckets
from lmlab.data.conversations import RENDER_CHUNK, check_messages, hf_dataset_rows, render_prompts
from lmlab.data.files import jsonl_records
from lmlab.data.splits import is_held_out
from lmlab.errors import LmlabError
from lmlab.runs import atomic_write
from lmlab.tokenizer import Tokenizer

FIELDS = ("prompt", "chosen", "rejected")
PAIRS_FILE = "pairs.jsonl"  # what a folder of preference data holds, when it is not a datasets folder


@dataclass
class PreferencePair:
    prompt: str | list[dict]  # plain text (standard), or messages (conversational)
    chosen: str  # the response text (conversational: the assistant message's content)
    rejected: str
    where: str = ""  # "file:line", for messages
    extra: dict = field(default_factory=dict)  # the row's other fields, written back by write_pairs

    @property
    def conversational(self) -> bool:
        return isinstance(self.prompt, list)

    @property
    def format(self) -> str:
        return "conversational" if self.conversational else "standard"


# ---- reading and writing ---------------------------------------------------------------------


def from_row(row, where: str) -> PreferencePair:
    """A pair from one JSON row of either format; `where` (file:line) leads every error message."""
    if not isinstance(row, dict):
        raise LmlabError(
            f'{where}: expected a JSON object {{"prompt", "chosen", "rejected"}}, got {type(row).__name__}'
        )
    missing = [name for name in FIELDS if name not in row]
    if missing:
        fields = f"field{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))}"
        raise LmlabError(f"{where}: missing {fields} (a pair needs {', '.join(FIELDS)})")
    extra = {k: v for k, v in row.items() if k not in FIELDS}
    prompt = row["prompt"]
    if isinstance(prompt, str):
        if not prompt.strip():
            raise LmlabError(f"{where}: 'prompt' is empty (a standard row's response continues the prompt's text)")
        chosen, rejected = (_text(row[name], name, where) for name in ("chosen", "rejected"))
    elif isinstance(prompt, list):
        if not prompt:
            raise LmlabError(f"{where}: 'prompt' is an empty list (expected the messages to answer)")
        prompt = check_messages(prompt, f"{where}: 'prompt'", require_assistant=False)
        chosen, rejected = (_assistant_content(row[name], name, where) for name in ("chosen", "rejected"))
    else:
        kind = type(prompt).__name__
        raise LmlabError(
            f"{where}: 'prompt' must be text (standard) or a list of messages (conversational), got {kind}"
        )
    return PreferencePair(prompt, chosen, rejected, where, extra)


def _text(value, name: str, where: str) -> str:
    if not isinstance(value, str):
        raise LmlabError(
            f"{where}: {name!r} must be a string in a standard row (the prompt is text), got {type(value).__name__}"
        )
    if not value.strip():
        raise LmlabError(f"{where}: {name!r} is an empty response")
    return value


def _assistant_content(value, name: str, where: str) -> str:
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        got = f"{len(value)} items" if isinstance(value, list) else type(value).__name__
    elif value[0].get("role") != "assistant" or "content" not in value[0]:
        got = f"a message with role {value[0].get('role')!r}" if "content" in value[0] else "a message without content"
    else:
        return _text(value[0]["content"], f"{name} content", where)
    expected = 'exactly one assistant message [{"role": "assistant", "content": str}] in a conversational row'
    raise LmlabError(f"{where}: {name!r} must be a list of {expected}, got {got}")


def read_pairs(path: str | Path) -> tuple[list[PreferencePair], int]:
    """The pairs of a file or folder, and how many were skipped because chosen == rejected (warned once)."""
    path = Path(path)
    if path.is_dir() and (path / PAIRS_FILE).is_file():
        path = path / PAIRS_FILE
    if path.is_dir():
        rows = ((f"{path}:row {i}", f"row {i}", row) for i, row in enumerate(hf_dataset_rows(path, "preference data")))
    elif path.is_file():
        rows = ((f"{path}:{lineno}", f"line {lineno}", row) for lineno, row in jsonl_records(path))
    else:
        raise LmlabError(f"{path}: no such file or folder")
    pairs, identical = [], []
    for where, at, row in rows:
        pair = from_row(row, where)
        if pair.chosen == pair.rejected:
            identical.append(at)
        else:
            pairs.append(pair)
    if not pairs and not identical:
        expected = 'expected one {"prompt", "chosen", "rejected"} object per line'
        raise LmlabError(f"{path}: the file holds no preference pairs ({expected})")
    if not pairs:
        raise LmlabError(f"{path}: all {len(identical)} pairs have chosen == rejected; nothing to learn from")
    if identical:
        warning = f"{len(identical)} pairs have chosen == rejected (first at {identical[0]}); skipped"
        print(f"lmlab: warning: {path}: {warning}", file=sys.stderr)
    return pairs, len(identical)


def to_row(pair: PreferencePair) -> dict:
    """The JSON row of a pair, in its own format, with its extra fields."""
    if pair.conversational:
        chosen, rejected = ([{"role": "assistant", "content": text}] for text in (pair.chosen, pair.rejected))
        return {"prompt": pair.prompt, "chosen": chosen, "rejected": rejected, **pair.extra}
    return {"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected, **pair.extra}


def write_pairs(path: str | Path, pairs: list[PreferencePair]) -> None:
    """Pairs as JSONL that read_pairs reads back, written whole or not at all (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(to_row(pair), ensure_ascii=False) + "\n" for pair in pairs)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# ---- tokenizing ------------------------------------------------------------------------------


@dataclass
class TokenizedPairs:
    """The token ids of kept pairs (the module docstring's rules); pair i came from input pairs[index[i]]."""

    prompts: list[np.ndarray]  # int64 ids
    chosen: list[np.ndarray]  # response ids
    rejected: list[np.ndarray]
    index: np.ndarray  # (n,) position of each kept pair in the input list
    dropped: int = 0  # prompts that left no room for a response
    truncated: int = 0  # pairs whose longer response was cut to fit

    def __len__(self) -> int:
        return len(self.prompts)

    def sequence(self, i: int, which: str) -> tuple[np.ndarray, int]:
        """The ids of prompt + chosen|rejected response of pair i, and the prompt's length."""
        if which not in ("chosen", "rejected"):
            raise ValueError(f"which must be 'chosen' or 'rejected', got {which!r}")
        response = self.chosen[i] if which == "chosen" else self.rejected[i]
        return np.concatenate([self.prompts[i], response]), len(self.prompts[i])


def tokenize_pairs(tokenizer: Tokenizer, pairs: list[PreferencePair], max_tokens: int) -> TokenizedPairs:
    """Encode every pair by the module docstring's rules, RENDER_CHUNK pairs (one parallel batch) at a time."""
    out = TokenizedPairs([], [], [], np.zeros(0, np.int64))
    index = []
    for start in range(0, len(pairs), RENDER_CHUNK):
        part = pairs[start : start + RENDER_CHUNK]
        for i, (prompt, chosen, rejected) in enumerate(_encode(tokenizer, part), start):
            room = max_tokens - len(prompt)
            if room < 1:
                out.dropped += 1
                continue
            out.truncated += int(max(len(chosen), len(rejected)) > room)
            out.prompts.append(np.array(prompt, np.int64))
            out.chosen.append(np.array(chosen[:room], np.int64))
            out.rejected.append(np.array(rejected[:room], np.int64))
            index.append(i)
    out.index = np.array(index, np.int64)
    return out


def _encode(tokenizer: Tokenizer, pairs: list[PreferencePair]) -> list[tuple[list[int], list[int], list[int]]]:
    """(prompt ids, chosen ids, rejected ids) of each pair, untruncated; all texts encoded in one batch."""
    responses = tokenizer.encode_batch([text for p in pairs for text in (p.chosen, p.rejected)])
    text_prompts = iter(tokenizer.encode_batch([p.prompt for p in pairs if not p.conversational]))
    chat_prompts = iter(render_prompts(tokenizer, [p.prompt for p in pairs if p.conversational]))
    end = [tokenizer.special_id("<|end|>")]
    encoded = []
    for k, p in enumerate(pairs):
        chosen, rejected = responses[2 * k], responses[2 * k + 1]
        if p.conversational:
            encoded.append((next(chat_prompts), chosen + end, rejected + end))
        else:
            encoded.append((next(text_prompts), chosen, rejected))
    return encoded


def encode_prompt(tokenizer: Tokenizer, prompt: str | list[dict]) -> list[int]:
    """The ids a response continues, by the rules of tokenize_pairs: the text, or the chat up to <|assistant|>."""
    if isinstance(prompt, str):
        return tokenizer.encode(prompt)
    return render_prompts(tokenizer, [prompt])[0]


def encode_response(tokenizer: Tokenizer, prompt: str | list[dict], response: str) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids) by the rules of tokenize_pairs (a chat response ends with <|end|>)."""
    end = [tokenizer.special_id("<|end|>")] if not isinstance(prompt, str) else []
    return encode_prompt(tokenizer, prompt), tokenizer.encode(response) + end


# ---- batches ---------------------------------------------------------------------------------


def collate_pairs(pairs: TokenizedPairs, indices, pad_id: int, length: int) -> dict:
    """Pairs `indices` (B of them) as 2B right-padded rows: the B chosen sequences, then the B rejected ones.

    tokens (2B, length + 1): prompt + response, then pad_id; lengths (2B,): real tokens per row;
    targets (2B, length): tokens[:, 1:] where the target is a response token, IGNORE elsewhere (prompt,
    padding), so a causal LM's logits on tokens[:, :-1] score exactly the responses; pair (B,): indices.
    """
    from lmlab.losses import IGNORE

    rows = [pairs.sequence(int(i), which) for which in ("chosen", "rejected") for i in indices]
    tokens = torch.full((len(rows), length + 1), pad_id, dtype=torch.long)
    targets = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    lengths = torch.zeros(len(rows), dtype=torch.long)
    for b, (ids, prompt_length) in enumerate(rows):
        n = len(ids)
        tokens[b, :n] = torch.from_numpy(ids)
        targets[b, prompt_length - 1 : n - 1] = tokens[b, prompt_length:n]
        lengths[b] = n
    return {"tokens": tokens, "targets": targets, "lengths": lengths, "pair": torch.as_tensor(np.asarray(indices))}


class PairBatches:
    """batch_fn for the Trainer: micro-batch `index` of length-bucketed epochs of pairs (lmlab.data.batching).

    per_pair: arrays of one value per pair (reference log-probs, margins) added to each batch under their names.
    """

    def __init__(self, pairs: TokenizedPairs, batch_size: int, seed: int, pad_id: int, per_pair: dict | None = None):
        self.pairs, self.pad_id, self.per_pair = pairs, pad_id, per_pair or {}
        lengths = np.array(
            [len(p) + max(len(c), len(r)) for p, c, r in zip(pairs.prompts, pairs.chosen, pairs.rejected)]
        )
        self.buckets = LengthBuckets(lengths - 1, batch_size, seed)  # n tokens make n - 1 (input, target) positions
        # Mean tokens a batch computes on (2 sequences a pair, padding excluded), for the Trainer's tokens/s.
        self.tokens_per_batch = float(2 * (lengths - 1).sum()) / self.buckets.batches_per_epoch

    def __call__(self, index: int) -> dict:
        indices, T = self.buckets(index)
        batch = collate_pairs(self.pairs, indices, self.pad_id, T)
        for name, values in self.per_pair.items():
            batch[name] = torch.as_tensor(values[indices])
        return batch


@dataclass
class PairSplits:
    train: TokenizedPairs
    val: TokenizedPairs
    stats: dict  # what was read and kept, for the run record
    train_pairs: list[PreferencePair]  # the rows train.index points into


def prepare_pairs(path: str | Path, tokenizer: Tokenizer, max_tokens: int) -> PairSplits:
    """Read, split and tokenize preference data: a pair is held out for validation when its prompt's hash
    falls in the lowest tenth (lmlab.data.splits.is_held_out), so no validation prompt is trained on."""
    pairs, identical = read_pairs(path)
    held = [is_held_out(json.dumps(p.prompt, sort_keys=True)) for p in pairs]
    train_pairs = [p for p, h in zip(pairs, held) if not h]
    train = tokenize_pairs(tokenizer, train_pairs, max_tokens)
    val = tokenize_pairs(tokenizer, [p for p, h in zip(pairs, held) if h], max_tokens)
    if not len(train):
        raise LmlabError(f"{path}: no training pair leaves room for a response within the {max_tokens}-token context")
    stats = {
        "pairs": len(pairs),
        "identical_skipped": identical,
        "train": len(train),
        "val": len(val),
        "dropped": train.dropped + val.dropped,
        "truncated": train.truncated + val.truncated,
    }
    if stats["dropped"]:
        print(
            f"lmlab: {path}: {stats['dropped']} pairs dropped (the prompt leaves no room for a response)",
            file=sys.stderr,
        )
    return PairSplits(train, val, stats, train_pairs)
