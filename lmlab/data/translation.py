"""The built-in parallel corpus: King James Version (1769 English) -> World English Bible (modern).

Verses are aligned by reference (book, chapter, verse): 31k pairs of the same sentence in two
registers of English, which makes a real translation task small enough for a CPU. The split has
no overlap: by "verse", each reference goes to train, val or test by a hash of the reference;
by "book", whole books go to one split by a hash of the book name (a harder, out-of-domain test).
"""

import hashlib
from dataclasses import dataclass

from lmlab.data.corpus import bible_verses
from lmlab.errors import LmlabError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Pair:
    reference: str
    source: str  # KJV
    target: str  # WEB


def _bucket(key: str) -> str:
    """train (90%), val (5%) or test (5%), a fixed function of the key."""
    n = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "little") % 100
    return "test" if n < 5 else "val" if n < 10 else "train"


def verse_pairs() -> list[Pair]:
    """Every verse that both versions hold, KJV source and WEB target, in canonical order."""
    web = {v.reference: v.text for v in bible_verses("web")}
    pairs = []
    for v in bible_verses("kjv"):
        if v.reference in web:
            # The KJV marks words the translators added with [brackets]; the words stay.
            pairs.append(Pair(v.reference, v.text.replace("[", "").replace("]", ""), web[v.reference]))
    return pairs


def split_pairs(pairs: list[Pair], by: str = "verse") -> dict[str, list[Pair]]:
    """{"train": [...], "val": [...], "test": [...]}, disjoint, split by verse or by book."""
    if by not in ("verse", "book"):
        raise LmlabError(f"split must be 'verse' or 'book', got {by!r}")
    out = {s: [] for s in SPLITS}
    for p in pairs:
        key = p.reference if by == "verse" else p.reference.rsplit(" ", 1)[0]  # "1 John 3:16" -> "1 John"
        out[_bucket(key)].append(p)
    return out


def translation_pairs(by: str = "verse") -> dict[str, list[Pair]]:
    return split_pairs(verse_pairs(), by)
