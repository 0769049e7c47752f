"""The text an inspection reads: its tokens, cut to the model's context, and where a word sits in it."""

import re
import sys
from dataclasses import dataclass

from lmlab.errors import LmlabError
from lmlab.tokenizer import Tokenizer


@dataclass
class TokenizedText:
    text: str
    ids: list[int]
    offsets: list[tuple[int, int]]  # each token's character span in `text`
    labels: list[str]  # each token decoded alone, spaces shown as ␣ and newlines as \n: axis and table labels
    dropped: int  # tokens cut from the front so that the rest fits the context


def token_label(piece: str) -> str:
    """A token as one visible word: spaces as ␣, other unprintable characters escaped (\\n, \\u200b)."""
    shown = "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode() for c in piece)
    return shown.replace(" ", "␣") or "∅"


def tokenize(tokenizer: Tokenizer, text: str, block_size: int, what: str = "the text") -> TokenizedText:
    """The tokens of `text`; one longer than the context keeps its last block_size tokens (a note on stderr says so)."""
    if not text.strip():
        raise LmlabError(f"{what} is empty")
    encoding = tokenizer.hf.encode(text, add_special_tokens=False)
    ids, offsets = encoding.ids, encoding.offsets
    dropped = max(0, len(ids) - block_size)
    if dropped:
        print(
            f"lmlab: note: {what} is {len(ids)} tokens, longer than the model's context of {block_size}: "
            f"cut to its last {block_size} tokens",
            file=sys.stderr,
        )
        ids, offsets = ids[dropped:], offsets[dropped:]
    labels = [token_label(tokenizer.decode([i])) for i in ids]
    return TokenizedText(text, ids, [tuple(o) for o in offsets], labels, dropped)


def word_positions(tokens: TokenizedText, word: str, what: str = "the sentence") -> list[int]:
    """The positions of the tokens that spell the first whole-word, case-sensitive occurrence of `word` in the
    tokens kept (a text cut to the context keeps its end).

    A BPE token may carry the space before the word (" bank"); any token whose span overlaps the word's counts.
    """
    matches = list(re.finditer(rf"(?<!\w){re.escape(word)}(?!\w)", tokens.text)) if word.strip() else []
    if not matches:
        raise LmlabError(f"the word {word!r} is not in {what}: {tokens.text!r} (whole words, case-sensitive)")
    kept = tokens.offsets[0][0]  # where the first kept token starts
    for match in matches:
        start, end = match.span()
        if start >= kept:
            return [t for t, (a, b) in enumerate(tokens.offsets) if a < end and b > start]
    raise LmlabError(f"the word {word!r} in {what} lies only in the part cut to fit the context")
