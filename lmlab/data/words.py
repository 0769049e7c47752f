"""The vocabulary of real words: what a reader recognises as English in a model's reply.

A small model's replies can look like text and still be gibberish ("Gree of mi mopiting"). The words
here are those of the default pre-training corpus's training text (lmlab.data.corpus.web_chat_documents:
the WEB's training chapters, everyday conversations, the project's how-to answers), seen at least
MIN_COUNT times there: once or twice is mostly typos and keyboard noise ("oculdn't", "kksskkss"), three
times keeps the ordinary words of modern chat ("weekend", "netflix", "i'm") and of the Bible. Built from
the training text only, so no held-out reply can put a word in.
"""

import functools
import re
from collections import Counter

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")  # a run of letters, with one inner apostrophe: "I'm", "don't"
MIN_COUNT = 3
# Letters alone are not words to a reader, only these: the corpus has the others as initials, list markers
# and shorthand ("r u ok"), and a reply of spaced letters ("s t o n e", the spelling drill) is no English.
ONE_LETTER_WORDS = frozenset({"a", "i"})


def words(text: str) -> list[str]:
    """The lower-cased words of a text, as WORD finds them: "I'm fine!" -> ["i'm", "fine"]."""
    return WORD.findall(text.lower())


@functools.cache
def known_words() -> frozenset[str]:
    """The lower-cased words of web_chat_documents() seen at least MIN_COUNT times, single letters other than
    ONE_LETTER_WORDS left out: 18,014 words, built in 3 to 5 s (most of it reading the corpus), once a process."""
    from lmlab.data.corpus import web_chat_documents

    counts = Counter(w for document in web_chat_documents() for w in words(document))
    return frozenset(w for w, k in counts.items() if k >= MIN_COUNT and (len(w) > 1 or w in ONE_LETTER_WORDS))
