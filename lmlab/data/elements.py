"""The elements task of the built-in SFT data: list the first N elements of the periodic table, one per
line with its atomic number ("1. Hydrogen" on the first line, "2. Helium" on the next, ...).

The table is data, not code: elements.tsv beside this module holds the 118 elements (number, symbol and
IUPAC name: "Aluminium", "Caesium", "Sulfur"), and `read_elements` checks it as it reads it.

A prompt is a phrasing with the count filled in, as digits ("10") or as a word ("ten"), so the model
learns that both ask the same thing. Held-out split: by phrasing. TRAIN_PHRASINGS are trained on;
TEST_PHRASINGS never are, among them the seed's example, POEM_PROMPT, so the test asks whether the skill
carries over to a wording never seen. Training draws N from 1 to 12, mostly 1 to 10 (TRAIN_LONG_SHARE go
beyond); the test asks N from 1 to 10 in both forms.

Grading: `lines_match`, the reply's lines against the reference's, each with its whitespace normalised
and blank lines dropped: the whole list, in order, one element a line.
"""

import re
from pathlib import Path

import numpy as np

from lmlab.data.splits import TEST_SEED  # orders the held-out prompts
from lmlab.errors import LmlabError

TABLE = Path(__file__).with_name("elements.tsv")  # shipped as package data (pyproject.toml)
HEADER = "number\tsymbol\tname"
N_ELEMENTS = 118
TEST_MAX_N = 10  # the test asks for the first 1 to 10 elements
# Training asks for up to 12, a little beyond the test, so that stopping at N is learned rather than stopping at 10.
# Not further: a line is about 7 tokens (a 4,096-token BPE of the WEB), so 12 lines and a prompt fill the 128-token
# context of the default model (a few of the longest, with a system prompt, lose their end; 20 lines alone are 157).
TRAIN_MAX_N = 12
TRAIN_LONG_SHARE = 0.1  # of training examples: N from 11 to TRAIN_MAX_N; the rest 1 to TEST_MAX_N

# Counts as words, for n <= 20: "the first ten elements".
NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()

# {n}: the count, as digits or a word; {s}: "s" after "element" when n is not 1.
TRAIN_PHRASINGS = (
    "List the first {n} element{s} of the periodic table, each on its own line, with its number.",
    "Name the first {n} chemical element{s}, one per line, numbered.",
    "Give me the first {n} element{s} of the periodic table. Put each on its own line with its atomic number.",
    "Write a little poem listing the first {n} element{s}, each on its own line with its number.",
    "Compose a short verse naming the first {n} element{s} of the periodic table, one line each, numbered.",
    "Tell me the first {n} element{s} in order of atomic number, one per line.",
    "Write out the first {n} element{s} of the periodic table as a numbered list, one per line.",
    "Can you list the first {n} chemical element{s} with atomic numbers, one on each line?",
    "Starting from hydrogen, name {n} element{s} in order, each on a new line with its number.",
    "I need the first {n} element{s} of the periodic table, numbered, one per line.",
    "Recite the first {n} element{s} of the periodic table, a line for each, with its atomic number.",
    "Please write the first {n} element{s} by atomic number, each on a separate line.",
)
TEST_PHRASINGS = (
    "Write a poem that gives each of the first {n} element{s} of the periodic table its own line, with its number.",
    "In a numbered list with one line per element, give the first {n} element{s} of the periodic table.",
    "Write a short song that goes through the first {n} element{s}, one line at a time, with their numbers.",
    "From the periodic table, write down the first {n} element{s} with their atomic numbers, one to a line.",
)


def read_elements(path: str | Path = TABLE) -> tuple[tuple[int, str, str], ...]:
    """(number, symbol, name) of every element in a table like elements.tsv: a header, then one element a
    line in order of atomic number, all 118 of them. A malformed table raises LmlabError naming file:line."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != HEADER:
        raise LmlabError(f"{path}:1: expected the header {HEADER!r}")
    rows = []
    for line_number, line in enumerate(lines[1:], start=2):
        number = len(rows) + 1
        fields = line.split("\t")
        if (
            len(fields) != 3
            or fields[0] != str(number)
            or not re.fullmatch(r"[A-Z][a-z]{0,2}", fields[1])
            or not re.fullmatch(r"[A-Z][a-z]+", fields[2])
        ):
            raise LmlabError(
                f"{path}:{line_number}: expected '{number}<TAB>symbol<TAB>name' (element {number}, a symbol like "
                f"'He', a capitalised name), got {line!r}"
            )
        rows.append((number, fields[1], fields[2]))
    if len(rows) != N_ELEMENTS:
        raise LmlabError(f"{path}:{len(lines) + 1}: expected {N_ELEMENTS} elements, found {len(rows)}")
    return tuple(rows)


ELEMENTS = read_elements()


def elements_prompt(phrasing: str, n: int, as_word: bool) -> str:
    """A phrasing asking for the first n elements (n <= 20), the count in digits or as a word."""
    return phrasing.format(n=NUMBER_WORDS[n] if as_word else n, s="" if n == 1 else "s")


def elements_answer(n: int) -> str:
    """The first n elements, one a line: "1. Hydrogen\\n2. Helium..."."""
    return "\n".join(f"{number}. {name}" for number, _, name in ELEMENTS[:n])


# The seed's example prompt: a held-out phrasing, so training sees only paraphrases of it.
POEM_PROMPT = elements_prompt(TEST_PHRASINGS[0], 10, as_word=True)


def elements_train_example(rng: np.random.Generator) -> tuple[str, str]:
    """One training (prompt, answer): a training phrasing, N mostly from 1 to 10, the count half the time a word."""
    long = rng.random() < TRAIN_LONG_SHARE
    n = int(rng.integers(TEST_MAX_N + 1, TRAIN_MAX_N + 1) if long else rng.integers(1, TEST_MAX_N + 1))
    phrasing = TRAIN_PHRASINGS[int(rng.integers(len(TRAIN_PHRASINGS)))]
    return elements_prompt(phrasing, n, as_word=bool(rng.random() < 0.5)), elements_answer(n)


def elements_test(n: int) -> list[tuple[str, str]]:
    """The first n held-out (prompt, answer) pairs: every test phrasing with N from 1 to 10, in digits and in words
    (80 in all), shuffled once with TEST_SEED so that any prefix mixes phrasings, forms and lengths."""
    pairs = [
        (elements_prompt(phrasing, count, as_word), elements_answer(count))
        for phrasing in TEST_PHRASINGS
        for count in range(1, TEST_MAX_N + 1)
        for as_word in (False, True)
    ]
    order = np.random.default_rng(TEST_SEED).permutation(len(pairs))
    return [pairs[i] for i in order[:n]]


def lines_match(reply: str, reference: str) -> bool:
    """Whether a reply lists the reference's lines, in order, one a line: each line's whitespace is normalised
    and blank lines are dropped, so "1. Hydrogen 2. Helium" on one line is wrong."""

    def lines(text: str) -> list[str]:
        return [" ".join(line.split()) for line in text.splitlines() if line.strip()]

    return lines(reply) == lines(reference)
