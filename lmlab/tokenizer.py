"""Tokenizers: characters, and byte-level BPE, both built on the Hugging Face `tokenizers` library.

Both are saved as one `tokenizer.json` that `tokenizers.Tokenizer.from_file` and
`transformers.PreTrainedTokenizerFast(tokenizer_file=...)` load, and both round-trip any UTF-8
text exactly: the character tokenizer falls back to byte tokens (<0x00>..<0xFF>) for characters
it did not see in training, and byte-level BPE covers every byte by construction.
The chat special tokens are reserved from the start so later stages need no resizing. The last two,
TOOL_TOKENS, came with tool use (lmlab.tools): a tokenizer trained before has the first seven only, loads
as before, and its runs refuse tool calls by name (`has_tools`).

Text is always text: `encode` never turns a literal "<|end|>" in its input into the control token,
so neither a corpus nor a chat user can forge a turn. Only code places special ids, through
`special_id` (the chat template of lmlab.data.conversations does).
"""

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from lmlab.errors import LmlabError

CHAT_TOKENS = ["<|bos|>", "<|eos|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
# <|call|> opens a tool call inside an assistant turn; <|tool|> opens the turn that carries the tool's result.
TOOL_TOKENS = ["<|call|>", "<|tool|>"]
SPECIAL_TOKENS = CHAT_TOKENS + TOOL_TOKENS  # what every tokenizer trained now reserves, in this order


class Tokenizer:
    """A thin wrapper over `tokenizers.Tokenizer` with lmlab's special tokens and helpers."""

    def __init__(self, hf: HFTokenizer):
        self.hf = hf
        # Split special-token strings in the input like any other text. The flag is not saved in
        # tokenizer.json, so it is set here, for trained and loaded tokenizers alike.
        hf.encode_special_tokens = True
        missing = [t for t in CHAT_TOKENS if hf.token_to_id(t) is None]
        if missing:
            raise LmlabError(f"tokenizer lacks the reserved special tokens {missing}")
        self.kind = "char" if isinstance(hf.model, models.BPE) and hf.pre_tokenizer is None else "bpe"

    @property
    def has_tools(self) -> bool:
        """Whether the tool-call tokens are reserved (every tokenizer trained since tool use came)."""
        return all(self.hf.token_to_id(t) is not None for t in TOOL_TOKENS)

    def require_tools(self, where: str = "this run"):
        if not self.has_tools:
            raise LmlabError(
                f"{where}: the tokenizer has no tool-call tokens {TOOL_TOKENS}: it was trained before lmlab had tool "
                "use; pre-train a new run (its tokenizer reserves them) to train or run tool calls"
            )

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size(with_added_tokens=True)

    def special_id(self, token: str) -> int:
        """The id of a reserved special token, e.g. special_id("<|eos|>")."""
        return self.hf.token_to_id(token)

    @property
    def eos_id(self) -> int:
        return self.special_id("<|eos|>")

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def to_json(self) -> str:
        return self.hf.to_str()

    def sha256(self) -> str:
        """A fingerprint of the vocabulary and rules, to match checkpoints and data caches."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def save(self, path: str | Path):
        self.hf.save(str(path))

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        path = Path(path)
        if not path.is_file():
            raise LmlabError(f"{path}: tokenizer file not found")
        try:
            return cls(HFTokenizer.from_file(str(path)))
        except Exception as e:  # the Rust loader's errors are opaque; name the file instead
            raise LmlabError(f"{path}: not a valid tokenizer.json ({e})") from None


class StreamDecoder:
    """Decodes a growing list of ids into text pieces, holding back incomplete UTF-8 sequences.

    Each push decodes a short window, not the whole list (as vLLM's incremental detokenizer): the text of
    ids[prefix:] minus that of ids[prefix:read], where `read` ends what was emitted and `prefix` is where
    the last piece began (a window that starts at a token boundary decodes as it does inside the whole).
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer, self.ids = tokenizer, []
        self.prefix = self.read = 0

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        return self._advance(final=False)

    def flush(self) -> str:
        """What push held back at the end: an incomplete byte sequence, decoded as U+FFFD."""
        return self._advance(final=True)

    def _advance(self, final: bool) -> str:
        done = self.tokenizer.decode(self.ids[self.prefix : self.read])
        text = self.tokenizer.decode(self.ids[self.prefix :])
        if len(text) <= len(done) or (text.endswith("\ufffd") and not final):  # a character is not complete yet
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return text[len(done) :]


def train_char(texts: Iterable[str]) -> Tokenizer:
    """A character vocabulary: the specials, the 256 fallback bytes, then every character seen."""
    chars = set()
    for t in texts:
        chars.update(t)
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for c in sorted(chars):
        vocab.setdefault(c, len(vocab))
    hf = HFTokenizer(models.BPE(vocab=vocab, merges=[], byte_fallback=True))
    hf.add_special_tokens(SPECIAL_TOKENS)
    hf.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    return Tokenizer(hf)


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Byte-level BPE (GPT-2 style) that splits digits one by one, as Llama and GPT-4 do."""
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator(texts, trainer=trainer)
    return Tokenizer(hf)


def train_tokenizer(kind: str, texts: Iterable[str], vocab_size: int) -> Tokenizer:
    if kind == "char":
        return train_char(texts)
    if kind == "bpe":
        return train_bpe(texts, vocab_size)
    raise LmlabError(f"unknown tokenizer {kind!r}: expected 'char', 'bpe' or a path to a tokenizer.json")


def chunk_lines(texts: Iterable[str], chunk_chars: int = 1 << 12) -> Iterator[str]:
    """Re-cut texts into ~4 KB pieces at line ends: many pieces for encode_batch to spread over
    the cores (4 KB encodes ~1.8x faster than 64 KB on 2 cores, bench/tokenizer_throughput.py)."""
    for text in texts:
        start = 0
        while start < len(text):
            end = text.find("\n", start + chunk_chars)
            end = len(text) if end < 0 else end + 1
            yield text[start:end]
            start = end
