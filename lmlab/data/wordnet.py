"""Word meanings from WordNet 3.0 (Miller 1995, "WordNet: A Lexical Database for English"), read with the standard
library from the files Debian's `wordnet-base` installs in /usr/share/wordnet (or $LMLAB_WORDNET).

The files, as wndb(5) documents them, one pair per part of speech (noun, verb, adj, adv):
    index.noun  one line per lemma: lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
                the offsets in order of the senses' frequency in the sense-tagged SemCor texts, most frequent first;
                tagsense_cnt is how many of the lemma's senses were seen tagged there
    data.noun   one synset per line, the line starting at byte synset_offset:
                synset_offset lex_filenum ss_type w_cnt word lex_id ... | gloss
                the gloss is the definition, then example sentences in double quotes, separated by "; "
Each file opens with the license, lines that begin with two spaces.

Conversations built from them (one user turn, one assistant turn):
    What does 'bank' mean?
        As a noun: sloping land (especially the slope beside a body of water), as in "they pulled the canoe up on the
        bank". As a noun: a financial institution that ..., as in "he cashed a check at the bank".
    Which meaning of 'bank' is used in "he cashed a check at the bank"?
        a financial institution that accepts deposits and channels the money into lending activities
A meaning reply lists the word's most common senses in WordNet's order (nouns, verbs, adjectives, adverbs, each by
frequency), up to MAX_SENSES of them while it stays within MAX_REPLY_WORDS (an example is left out before a sense is).

Held-out split: of the WORD_POOL most common words (`common_words`), the N_HELD_OUT with the smallest hash are held
out (`held_out_words`). Training conversations never ask about them, nor show their first definition (a synonym
shares it), so `wordnet_test` asks for meanings that were never trained on. Grading: `first_sense_matches`, chrF
(Popovic 2015) of the reply's first sense against WordNet's first definition.
"""

import functools
import hashlib
import os
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lmlab.errors import LmlabError

DEFAULT_DIR = Path("/usr/share/wordnet")
PARTS_OF_SPEECH = {"noun": ("noun", "n"), "verb": ("verb", "v"), "adjective": ("adj", "a"), "adverb": ("adv", "r")}
ARTICLES = {"noun": "a noun", "verb": "a verb", "adjective": "an adjective", "adverb": "an adverb"}
MAX_SENSES = 3  # senses in a meaning reply
MAX_REPLY_WORDS = 40  # a reply and a prompt of at most 70 words fit the 128-token context together
MAX_PROMPT_WORDS = 70
WORD_POOL = 2000  # common words the training and test words come from (all tagged in >= 3 senses)
N_HELD_OUT = 200
WHICH_FRACTION = 0.5  # training conversations that ask which meaning an example uses
# chrF of a first sense against WordNet's first definition, measured on 60 common words: WordNet's own wording scores
# 100, with a quarter of its words dropped 68 (median; 10th percentile 38), the word's second sense 16 (at most 39),
# another word's first sense 14 (at most 24). A close paraphrase ("a financial institution that takes deposits and
# lends money") scores 52, a loose one ("land that slopes beside a river") 25: the grade rewards WordNet's wording.
MATCH_THRESHOLD = 50.0


class Sense(NamedTuple):
    pos: str  # "noun", "verb", "adjective" or "adverb"
    definition: str
    examples: tuple[str, ...]


# ---- the files ------------------------------------------------------------------------------
def _files_present(directory: Path) -> bool:
    return all(
        (directory / f"{kind}.{suffix}").is_file()
        for suffix, _ in PARTS_OF_SPEECH.values()
        for kind in ("index", "data")
    )


def _where(directory=None) -> Path:
    return Path(directory or os.environ.get("LMLAB_WORDNET") or DEFAULT_DIR)


def wordnet_dir() -> Path | None:
    """The WordNet directory ($LMLAB_WORDNET, else /usr/share/wordnet), or None when its files are missing."""
    directory = _where()
    return directory if _files_present(directory) else None


def require_wordnet(directory=None) -> Path:
    """The WordNet directory (the given one, else `wordnet_dir()`'s choice), or a user error naming it."""
    return _require(_where(directory))


@functools.cache  # only a complete directory is remembered (a raise is not cached): a missing one is looked for again
def _require(directory: Path) -> Path:
    if not _files_present(directory):
        raise LmlabError(f"WordNet not found in {directory} (apt-get install wordnet-base, or set LMLAB_WORDNET)")
    return directory


@functools.cache
def _index(directory: Path, suffix: str) -> dict[str, tuple[int, tuple[int, ...]]]:
    """lemma -> (tagsense_cnt, synset offsets in frequency order), for one part of speech."""
    path, letter = directory / f"index.{suffix}", dict(PARTS_OF_SPEECH.values())[suffix]
    entries = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if line.startswith("  ") or not line.strip():  # the license header
                continue
            fields = line.split()
            try:
                synset_cnt, p_cnt = int(fields[2]), int(fields[3])
                tagsense_cnt = int(fields[5 + p_cnt])
                offsets = tuple(int(x) for x in fields[6 + p_cnt :])
                ok = fields[1] == letter and len(offsets) == synset_cnt > 0
            except (IndexError, ValueError):
                ok = False
            if not ok:
                raise LmlabError(
                    f"{path}:{number}: expected 'lemma {letter} synset_cnt p_cnt [ptr_symbol...] sense_cnt "
                    f"tagsense_cnt synset_offset...' (wndb(5)), got {line.strip()[:60]!r}"
                )
            entries[fields[0]] = (tagsense_cnt, offsets)
    return entries


@functools.cache
def _data(directory: Path, suffix: str) -> bytes:
    return (directory / f"data.{suffix}").read_bytes()  # offsets are bytes, so the file is kept as bytes


def _synset(directory: Path, suffix: str, offset: int) -> tuple[str, tuple[str, ...]]:
    """(definition, examples) of the synset whose line starts at byte `offset` of data.<suffix>."""
    data = _data(directory, suffix)
    end = data.find(b"\n", offset)
    line = data[offset : end if end >= 0 else len(data)].decode("utf-8", errors="replace")
    at_line_start = offset == 0 or data[offset - 1 : offset] == b"\n"
    if not (offset < len(data) and at_line_start and line.startswith(f"{offset:08d} ") and " | " in line):
        number = data.count(b"\n", 0, offset) + 1
        raise LmlabError(
            f"{directory / f'data.{suffix}'}:{number}: expected the synset of byte offset {offset} "
            f"('{offset:08d} lex_filenum ss_type ... | gloss', wndb(5)), got {line.strip()[:60]!r}"
        )
    return _parse_gloss(line.split(" | ", 1)[1].strip())


def _parse_gloss(gloss: str) -> tuple[str, tuple[str, ...]]:
    """(definition, examples). The parts before the first quoted example make the definition; an attribution after
    an example's closing quote ("..." - Shakespeare) and the rare unquoted note after the examples are dropped."""
    parts, part = [], ""
    for piece in gloss.split(";"):
        part = f"{part};{piece}" if part else piece
        if part.count('"') % 2 == 0:  # a ";" inside a quoted example does not end it
            parts.append(part.strip())
            part = ""
    parts.append(part.strip())
    definition, examples = [], []
    for part in filter(None, parts):
        if part.startswith('"'):
            close = part.rfind('"')
            examples.append(part[1 : close if close > 0 else len(part)].strip())
        elif not examples:
            definition.append(part)
    return "; ".join(definition), tuple(filter(None, examples))


@functools.cache
def _senses(lemma: str, directory: Path) -> tuple[Sense, ...]:
    found = []
    for pos, (suffix, _) in PARTS_OF_SPEECH.items():
        _, offsets = _index(directory, suffix).get(lemma, (0, ()))
        found += [Sense(pos, *_synset(directory, suffix, offset)) for offset in offsets]
    return tuple(found)


def senses(word: str, directory=None) -> list[Sense]:
    """Every sense of a word: nouns, verbs, adjectives, adverbs, each in WordNet's frequency order."""
    return list(_senses(word.lower().replace(" ", "_"), require_wordnet(directory)))


# ---- conversations ---------------------------------------------------------------------------
@functools.cache
def _word_pattern(word: str) -> re.Pattern:
    """The word itself or with a regular ending (bank, banks, banked, banking)."""
    return re.compile(rf"\b{re.escape(word)}(?:s|es|d|ed|ing)?\b", re.IGNORECASE)


def _using(sense: Sense, word: str) -> list[str]:
    """The sense's examples that use the word."""
    return [e for e in sense.examples if _word_pattern(word).search(e)]


def _describe(sense: Sense, word: str, with_example: bool) -> str:
    using = _using(sense, word) if with_example else []
    as_in = f', as in "{using[0]}"' if using else ""
    return f"As {ARTICLES[sense.pos]}: {sense.definition}{as_in}."


def _meaning_prompt(word: str) -> str:
    return f"What does '{word}' mean?"


def _which_prompt(word: str, example: str) -> str:
    return f"Which meaning of '{word}' is used in \"{example}\"?"


def _meaning_reply(word: str, word_senses) -> str:
    pieces = []
    for sense in word_senses[:MAX_SENSES]:
        fits = [
            p
            for p in (_describe(sense, word, True), _describe(sense, word, False))
            if len(" ".join(pieces + [p]).split()) <= MAX_REPLY_WORDS
        ]
        if not fits:
            pieces = pieces or [_describe(sense, word, False)]  # a first sense too long to fit still answers
            break
        pieces.append(fits[0])
    return " ".join(pieces)


def meaning_example(word: str, directory=None) -> tuple[str, str]:
    """("What does '<word>' mean?", its most common senses): up to MAX_SENSES, in order, within MAX_REPLY_WORDS
    (the first sense is always there, with its example when it fits)."""
    word_senses = senses(word, directory)
    if not word_senses:
        raise LmlabError(f"'{word}' is not in WordNet ({require_wordnet(directory)})")
    return _meaning_prompt(word), _meaning_reply(word, word_senses)


def which_meaning_example(word: str, sense_index: int, example_index: int = 0, directory=None) -> tuple[str, str]:
    """("Which meaning of '<word>' is used in "<example>"?", the definition of that sense), where the example is the
    example_index-th of the sense's examples that use the word (`senses(word)[sense_index]`)."""
    sense = senses(word, directory)[sense_index]
    using = _using(sense, word)
    if example_index >= len(using):
        raise LmlabError(f"sense {sense_index} of '{word}' has {len(using)} example(s) that use the word")
    return _which_prompt(word, using[example_index]), sense.definition


# ---- common words and the held-out split -------------------------------------------------------
@functools.cache
def _ranked_words(directory: Path) -> tuple[str, ...]:
    """Single lower-case words of 3-12 letters, by tagsense_cnt summed over parts of speech, then by number of
    senses, then alphabetically."""
    tagged, synsets = Counter(), Counter()
    for suffix, _ in PARTS_OF_SPEECH.values():
        for lemma, (tagsense_cnt, offsets) in _index(directory, suffix).items():
            if re.fullmatch(r"[a-z]{3,12}", lemma):
                tagged[lemma] += tagsense_cnt
                synsets[lemma] += len(offsets)
    return tuple(sorted(tagged, key=lambda w: (-tagged[w], -synsets[w], w)))


def common_words(n: int, directory=None) -> list[str]:
    """The n most common words, most common first (see `_ranked_words`)."""
    return list(_ranked_words(require_wordnet(directory))[:n])


@functools.cache
def _split(directory: Path, pool: int, n_held_out: int) -> tuple[tuple[str, ...], tuple[str, ...], frozenset]:
    """(training words, held-out words, the held-out words' first definitions), the words in common order."""
    words = _ranked_words(directory)[:pool]
    held = set(sorted(words, key=lambda w: hashlib.blake2b(w.encode(), digest_size=8).digest())[:n_held_out])
    definitions = frozenset(_senses(w, directory)[0].definition for w in held)
    return tuple(w for w in words if w not in held), tuple(w for w in words if w in held), definitions


def held_out_words(directory=None) -> list[str]:
    """The N_HELD_OUT of the WORD_POOL most common words with the smallest hash, in common order."""
    return list(_split(require_wordnet(directory), WORD_POOL, N_HELD_OUT)[1])


def wordnet_test(directory=None) -> list[tuple[str, str]]:
    """(word, WordNet's first definition) of every held-out word: ask meaning_example(word)'s prompt, grade the reply
    with first_sense_matches."""
    directory = require_wordnet(directory)
    return [(w, _senses(w, directory)[0].definition) for w in held_out_words(directory)]


def wordnet_train_example(rng: np.random.Generator, directory=None) -> tuple[str, str]:
    """A meaning or which-meaning conversation about a common word that is not held out, within the word limits.
    It shows no held-out word's first definition: a meaning reply is drawn only for a word none of whose first
    MAX_SENSES senses has one."""
    directory = require_wordnet(directory)
    words, _, held_definitions = _split(directory, WORD_POOL, N_HELD_OUT)
    if not words:
        raise LmlabError(f"WordNet in {directory} has no common words left to train on")
    while True:
        word = words[int(rng.random() * len(words))]
        word_senses = _senses(word, directory)
        if rng.random() < WHICH_FRACTION:
            uses = [(sense, example) for sense in word_senses for example in _using(sense, word)]
            if not uses:
                continue
            sense, example = uses[int(rng.random() * len(uses))]
            prompt, reply, shown = _which_prompt(word, example), sense.definition, [sense]
        else:
            prompt, reply, shown = _meaning_prompt(word), _meaning_reply(word, word_senses), word_senses[:MAX_SENSES]
        fits = len(prompt.split()) <= MAX_PROMPT_WORDS and len(reply.split()) <= MAX_REPLY_WORDS
        if fits and not any(s.definition in held_definitions for s in shown):
            return prompt, reply


# ---- grading --------------------------------------------------------------------------------
_SENSE_START = re.compile(r"\bAs an? (?:noun|verb|adjective|adverb):\s*")


def first_sense(reply: str) -> str:
    """The definition of a meaning reply's first sense: after its "As a noun:", before its ', as in "..."' and the next
    sense. A reply in another shape is taken whole."""
    starts = list(_SENSE_START.finditer(reply))
    if starts:
        reply = reply[starts[0].end() : starts[1].start() if len(starts) > 1 else len(reply)]
    return reply.split(', as in "')[0].strip().removesuffix(".").strip()


def first_sense_matches(reply: str, word_definition: str, threshold: float = MATCH_THRESHOLD) -> bool:
    """Whether chrF (sacrebleu.sentence_chrf, 0-100) of the reply's first sense against WordNet's first definition
    reaches the threshold."""
    import sacrebleu

    return sacrebleu.sentence_chrf(first_sense(reply), [word_definition]).score >= threshold
