"""Sentences that use a word in one of two senses (senses.jsonl, written by the project, MIT license): the data of
the sense test (lmlab.inspect.senses). One record a line: {"word", "sense", "sentence"}; every sentence holds the
word as a whole word, and the words before it tell the sense (a causal model's state at the word reads only them).
"""

import re
from dataclasses import dataclass
from pathlib import Path

from lmlab.data.files import jsonl_records, text_field
from lmlab.errors import LmlabError

SENSES_FILE = Path(__file__).with_name("senses.jsonl")
MIN_SENTENCES = 4  # per sense


@dataclass(frozen=True)
class SenseSet:
    word: str
    senses: tuple[str, str]
    sentences: tuple[tuple[str, ...], tuple[str, ...]]  # the sentences of each sense


def read_senses(path: Path = SENSES_FILE) -> list[SenseSet]:
    """The words of a senses file, in file order; each must have exactly two senses of MIN_SENTENCES or more
    sentences, and every sentence must hold its word (errors name file:line or the word)."""
    by_word: dict[str, dict[str, list[str]]] = {}
    for lineno, record in jsonl_records(path):
        if not isinstance(record, dict):
            raise LmlabError(f"{path}:{lineno}: expected an object with the text fields word, sense, sentence")
        word, sense, sentence = (text_field(record, name, f"{path}:{lineno}") for name in ("word", "sense", "sentence"))
        if not re.search(rf"(?<!\w){re.escape(word)}(?!\w)", sentence):
            raise LmlabError(f"{path}:{lineno}: the sentence does not hold the word {word!r} as a whole word")
        by_word.setdefault(word, {}).setdefault(sense, []).append(sentence)
    sets = []
    for word, senses in by_word.items():
        if len(senses) != 2 or min(map(len, senses.values())) < MIN_SENTENCES:
            counts = ", ".join(f"{s!r}: {len(v)}" for s, v in senses.items())
            raise LmlabError(f"{path}: {word!r} needs two senses of at least {MIN_SENTENCES} sentences, got {counts}")
        names = tuple(senses)
        sets.append(SenseSet(word, names, (tuple(senses[names[0]]), tuple(senses[names[1]]))))
    if not sets:
        raise LmlabError(f"{path}: no sentences")
    return sets
