"""The built-in parallel corpus: King James Version (1769 English) -> World English Bible (modern).

Verses are aligned by reference (book, chapter, verse): 31k pairs of the same sentence in two
registers of English, which makes a real translation task small enough for a CPU. The split has
no overlap: by "verse", each reference goes to train, val or test by a hash of the reference;
by "book", whole books go to one split by a hash of the book name (a harder, out-of-domain test).
"""

import hashlib
from dataclasses import dataclass

from lmlab.data.bible import bible_verses
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


def passage_key(reference: str, verses_per_passage: int = 3) -> tuple[str, int]:
    """("Genesis 1", 0) for "Genesis 1:1".."Genesis 1:3": the passage a verse belongs to."""
    chapter, verse = reference.rsplit(":", 1)
    return chapter, (int(verse) - 1) // verses_per_passage


def passages(pairs: list[Pair], verses_per_passage: int = 3) -> dict[str, list[list[Pair]]]:
    """Consecutive verses grouped into passages of up to `verses_per_passage`, each passage in one split
    by a hash of its key (so a test passage's verses are all unseen), {"train": [[Pair, ...], ...], ...}."""
    groups: dict[tuple[str, int], list[Pair]] = {}
    for p in pairs:
        groups.setdefault(passage_key(p.reference, verses_per_passage), []).append(p)
    out = {s: [] for s in SPLITS}
    for (chapter, k), group in groups.items():
        out[_bucket(f"{chapter}:{k}")].append(group)
    return out


def concatenate(verses: list[Pair]) -> Pair:
    """Consecutive verses as one pair: the sources joined with a space, the targets likewise."""
    first, last = verses[0].reference, verses[-1].reference.rsplit(":", 1)[1]
    reference = first if len(verses) == 1 else f"{first}-{last}"
    return Pair(reference, " ".join(v.source for v in verses), " ".join(v.target for v in verses))


def passage_pairs(groups: list[list[Pair]], lengths=(1, 2, 3)) -> dict[int, list[Pair]]:
    """For each n in `lengths`, the first n verses of every passage that has n, concatenated: {n: [Pair]}."""
    return {n: [concatenate(g[:n]) for g in groups if len(g) >= n] for n in lengths}
