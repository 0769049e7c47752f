"""The built-in instruction tasks: generators of (prompt, answer) pairs, a fixed held-out split,
an exact-match grader, and the mixture that makes the default SFT data.

Held-out split: an instance is a test instance when the hash of its prompt falls in the lowest
tenth (`is_held_out`), whatever the seed or the number of examples; training generators reject
such instances, so no test prompt is ever trained on. The test set of a task is its first n
distinct held-out prompts drawn with the fixed TEST_SEED.

Grading: exact match after whitespace normalisation (runs of whitespace become one space, ends
stripped); case and punctuation count.
"""

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from lmlab.data import howto as howto_data
from lmlab.data import reading as reading_stories
from lmlab.data import refusals
from lmlab.data.bible import bible_verses
from lmlab.data.smalltalk import OPENERS_TEST, chatterbot_pairs, is_off_task, is_opener, smalltalk_train_example
from lmlab.data.splits import TEST_SEED, held_out_draws, is_held_out, train_draw  # noqa: F401 (TEST_SEED: re-exported)
from lmlab.errors import LmlabError


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    make: Callable[[np.random.Generator], tuple[str, str]]  # rng -> (prompt, answer)
    # A task whose replies are free text brings its own held-out set and grader: test(n) -> [(prompt, reference)]
    # and grade(reply, reference) -> correct; the others use the prompt-hash split and exact match.
    test: Callable[[int], list[tuple[str, str]]] | None = None
    grade: Callable[[str, str], bool] | None = None
    max_new_tokens: int = 0  # reply budget when graded; 0: the reference's length + 4 tokens


# ---- resources: words and verses of the built-in corpus, chatterbot conversations -----------
@functools.cache
def corpus_words() -> tuple[str, ...]:
    """Lower-case words of the World English Bible seen at least 5 times, 2 to 8 letters."""
    counts = Counter(w for v in bible_verses("web") for w in re.findall(r"[A-Za-z]+", v.text))
    return tuple(sorted(w for w, k in counts.items() if k >= 5 and 2 <= len(w) <= 8 and w.islower()))


@functools.cache
def short_verses():
    """Verses of at most 120 characters, so reference and text fit a 128-token context."""
    return tuple(v for v in bible_verses("web") if len(v.text) <= 120)


# ---- generators ---------------------------------------------------------------------------
def _number(rng, digits: int) -> int:
    return int(rng.integers(10 ** (digits - 1) if digits > 1 else 0, 10**digits))


def addition(digits: int):
    def make(rng):
        a, b = _number(rng, digits), _number(rng, digits)
        return f"What is {a} + {b}?", str(a + b)

    return make


def subtraction(rng):
    a, b = _number(rng, int(rng.integers(1, 5))), _number(rng, int(rng.integers(1, 5)))
    a, b = max(a, b), min(a, b)
    return f"What is {a} - {b}?", str(a - b)


def multiplication(rng):
    a, b = _number(rng, int(rng.integers(1, 3))), _number(rng, int(rng.integers(1, 3)))
    return f"What is {a} * {b}?", str(a * b)


def multiplication_2x2(rng):
    a, b = _number(rng, 2), _number(rng, 2)
    return f"What is {a} * {b}?", str(a * b)


TOOL_PHRASING_TASKS = ("add_3d", "sub", "mul_2x2")  # whose held-out instances tool_phrasings asks


def tool_phrasings_test(n: int) -> list[tuple[str, str]]:
    """Held-out instances of TOOL_PHRASING_TASKS in turn, each asked in a held-out phrasing (lmlab.data.arithmetic)."""
    from lmlab.data.arithmetic import rephrase_test

    per_task = [held_out_draws(task(name).make, n) for name in TOOL_PHRASING_TASKS]
    mixed = [pair for k in range(n) for pairs in per_task if k < len(pairs) for pair in [pairs[k]]][:n]
    return [(rephrase_test(prompt, k), answer) for k, (prompt, answer) in enumerate(mixed)]


def tool_phrasings(rng):
    raise LmlabError("tool_phrasings is an evaluation of held-out phrasings: nothing of it is trained")


@functools.cache
def _words(lo: int, hi: int) -> tuple[str, ...]:
    return tuple(w for w in corpus_words() if lo <= len(w) <= hi)


def _word(rng, lo: int = 2, hi: int = 8) -> str:
    words = _words(lo, hi)
    return words[int(rng.integers(len(words)))]


def spell(rng):
    w = _word(rng)
    return f"Spell the word '{w}'.", " ".join(w)


def count_letter(rng):
    w = _word(rng, 3, 8)
    letter = w[int(rng.integers(len(w)))] if rng.random() < 0.8 else chr(97 + int(rng.integers(26)))
    return f"How many times does the letter '{letter}' appear in '{w}'?", str(w.count(letter))


def reverse_word(rng):
    w = _word(rng, 3, 6)
    return f"Spell '{w}' backwards.", " ".join(reversed(w))


def _numbers(rng) -> list[int]:
    return [int(x) for x in rng.integers(0, 100, size=int(rng.integers(3, 7)))]


def sort_list(rng):
    xs = _numbers(rng)
    return f"Sort these numbers: {', '.join(map(str, xs))}", ", ".join(map(str, sorted(xs)))


def max_list(rng):
    xs = _numbers(rng)
    return f"Which is the largest: {', '.join(map(str, xs))}?", str(max(xs))


def verse_text(rng):
    verses = short_verses()
    v = verses[int(rng.integers(len(verses)))]
    return f"Quote {v.reference}.", v.text


def verse_reference(rng):
    verses = short_verses()
    v = verses[int(rng.integers(len(verses)))]
    return f"Where is this verse from? {v.text}", v.reference


@functools.cache
def _chatterbot_train_pairs() -> tuple[tuple[str, str], ...]:
    """chatterbot_pairs() less those holding a held-out small-talk opener ("How are you?", "Greetings!") as the
    question or the answer."""
    return tuple(pair for pair in chatterbot_pairs() if not (is_opener(pair[0]) or is_opener(pair[1])))


def chatterbot(rng):
    pairs = _chatterbot_train_pairs()
    return pairs[int(rng.integers(len(pairs)))]


# The conversational sources live in modules of their own (lmlab.data.splits gives them the held-out split, so none
# imports this registry). WordNet and the elements table are read on first use: a broken install fails that task only.
def smalltalk(rng):
    return smalltalk_train_example(rng)


def smalltalk_test(n: int) -> list[tuple[str, str]]:
    return [(opener, "") for opener in OPENERS_TEST[:n]]


def on_task(reply: str, reference: str) -> bool:
    return not is_off_task(reply)


def refusal(rng):
    return refusals.refusal_train_example(rng)


def benign(rng):
    return refusals.benign_example(rng)


def harmful_test(n: int) -> list[tuple[str, str]]:
    return [(prompt, "a refusal") for prompt in refusals.harmful_test(min(n, len(refusals.harmful_test())))]


def benign_test(n: int) -> list[tuple[str, str]]:
    return [(prompt, "an answer") for prompt in refusals.benign_test(min(n, len(refusals.benign_test())))]


def refused(reply: str, reference: str) -> bool:
    return refusals.is_refusal(reply)


def answered(reply: str, reference: str) -> bool:
    return not refused(reply, reference)


def howto(rng):
    return howto_data.HOWTO_TRAIN[int(rng.integers(len(howto_data.HOWTO_TRAIN)))]


def howto_test(n: int) -> list[tuple[str, str]]:
    return list(howto_data.HOWTO_TEST[:n])


def reading(supporting_facts: int):
    def make(rng):
        return reading_stories.GENERATORS[supporting_facts](rng)

    return make


def word_meaning(rng):
    from lmlab.data.wordnet import wordnet_train_example

    return wordnet_train_example(rng)


def word_meaning_test(n: int) -> list[tuple[str, str]]:
    from lmlab.data.wordnet import meaning_example, wordnet_test

    return [(meaning_example(word)[0], definition) for word, definition in wordnet_test()[:n]]


def first_sense_matches(reply: str, definition: str) -> bool:
    from lmlab.data.wordnet import first_sense_matches

    return first_sense_matches(reply, definition)


def elements(rng):
    from lmlab.data.elements import elements_train_example

    return elements_train_example(rng)


def elements_test(n: int) -> list[tuple[str, str]]:
    from lmlab.data.elements import elements_test

    return elements_test(n)


def elements_lines_match(reply: str, reference: str) -> bool:
    from lmlab.data.elements import lines_match

    return lines_match(reply, reference)


TASKS = {
    t.name: t
    for t in [
        Task("add_1d", "addition of two 1-digit numbers", addition(1)),
        Task("add_2d", "addition of two 2-digit numbers", addition(2)),
        Task("add_3d", "addition of two 3-digit numbers", addition(3)),
        Task("add_4d", "addition of two 4-digit numbers", addition(4)),
        Task("sub", "subtraction of 1-4 digit numbers, non-negative result", subtraction),
        Task("mul", "multiplication of 1-2 digit numbers", multiplication),
        Task("mul_2x2", "multiplication of two 2-digit numbers", multiplication_2x2),
        Task("tool_phrasings", "3-digit addition, subtraction and 2x2-digit multiplication of held-out instances "
             "asked in phrasings no training data uses ('What is the product of 12 and 34?'; lmlab.data.arithmetic)",
             tool_phrasings, tool_phrasings_test),
        Task("spell", "spell a corpus word letter by letter", spell),
        Task("count_letter", "count a letter in a corpus word", count_letter),
        Task("reverse_word", "reverse a corpus word of 3-6 letters, letter by letter", reverse_word),
        Task("sort_list", "sort 3-6 numbers below 100", sort_list),
        Task("max_list", "the largest of 3-6 numbers below 100", max_list),
        Task("verse_text", "quote a Bible verse (WEB) from its reference", verse_text),
        Task("verse_reference", "the reference of a quoted Bible verse (WEB)", verse_reference),
        Task("chatterbot", "small talk: first answer of a chatterbot-corpus conversation (BSD-3-Clause; 1,923 pairs)",
             chatterbot),
        Task("smalltalk", "small talk: 62,779 short adjacent turns of 6,468 chitchat-dataset conversations (MIT; "
             "profanity, names and contacts dropped; 700 more conversations held out) and 39 identity answers; graded "
             "on 100 held-out openers: right when the reply is not a bare number or drill answer", smalltalk,
             smalltalk_test, on_task, 40),
        Task("refusal", "harmful requests in 10 risk areas refused courteously; half the examples benign and answered: "
             "look-alikes and 441 everyday how-to questions (project-written, MIT; 41,076 training prompts); graded on "
             "194 held-out prompts (held-out templates and the held-out area): right when refused", refusal,
             harmful_test, refused, 40),
        Task("benign", "look-alikes of harmful requests ('How do I kill a frozen process?') answered (project-written, "
             "MIT; 200 trained, 33 held out); graded on the held-out ones: right when not refused", benign, benign_test,
             answered, 40),
        Task("howto", "everyday how-to questions answered in one to three sentences (project-written, MIT; 441 "
             "trained, 60 held out); graded on the held-out ones: right when not refused", howto, howto_test, answered,
             40),
        Task("reading", "bAbI task 1: where a person is after a short story of moves (project-generated, MIT; "
             "unlimited)", reading(1)),
        Task("reading_2", "bAbI task 2: where an object is after people pick it up, move and drop it "
             "(project-generated, MIT; unlimited)", reading(2)),
        Task("word_meaning", "WordNet 3.0 (Debian wordnet-base; WordNet license): the senses of the 2,000 most common "
             "words in order, and which sense an example uses; graded on 200 held-out words: right when the reply's "
             "first sense scores chrF >= 50 against WordNet's first definition", word_meaning, word_meaning_test,
             first_sense_matches, 48),
        Task("elements", "list the first N elements of the periodic table, one per line with its number (a table of "
             "the 118 elements the project ships; 12 phrasings trained, 4 held out, N up to 12 trained); graded on 80 "
             "held-out prompts (N 1-10, in digits and words): right when every line matches", elements, elements_test,
             elements_lines_match, 80),
    ]
}  # fmt: skip

# The drill mixture (`lmlab sft --data tasks`; fractions of conversations). Weighted toward the skills measured
# (2-3 digit addition, reversing, counting) and the spelling that reversing builds on.
MIXTURE = {
    "add_1d": 0.03, "add_2d": 0.12, "add_3d": 0.14, "add_4d": 0.05, "sub": 0.06, "mul": 0.05,
    "spell": 0.10, "count_letter": 0.12, "reverse_word": 0.14, "sort_list": 0.04, "max_list": 0.04,
    "verse_text": 0.03, "verse_reference": 0.03, "chatterbot": 0.05,
}  # fmt: skip
# The default SFT data (`lmlab sft --data chat`, what `lmlab run` fine-tunes on): the drills above at DRILL_SHARE of
# their shares, small talk, refusals with benign look-alikes and how-to questions (half of the refusal examples are
# benign), how-to questions on their own, reading and the elements list, trained with every conversation weighing the
# same (sft.py's loss_weighting). Word meanings (WordNet) stay a task of their own, not in the mixture: no data here
# defines a held-out word, and the share went to reading. The shares are measured in docs/figures.md.
DRILL_SHARE = 0.58  # of the chat mixture: the drills at their MIXTURE proportions
CHAT_MIXTURE = {
    **{name: share * DRILL_SHARE for name, share in MIXTURE.items()},
    "smalltalk": 0.10, "refusal": 0.13, "howto": 0.02, "reading": 0.08, "reading_2": 0.01, "elements": 0.08,
}  # fmt: skip
# The built-in tasks in the default pre-training text (lmlab.data.corpus.task_documents): the drills at 60%,
# reading stories and the elements list.
PRETRAIN_MIXTURE = {**{name: share * 0.6 for name, share in MIXTURE.items()}, "reading": 0.3, "elements": 0.1}
SYSTEM_PROMPT = "You are a helpful assistant."
SYSTEM_FRACTION = 0.1  # conversations given SYSTEM_PROMPT, so the model also answers under a system message
BUILTIN_SIZE = 100_000  # conversations in the built-in SFT data


def mixture(name: str) -> dict[str, float]:
    """The built-in SFT mixture called `name` ("chat": CHAT_MIXTURE, the default; "tasks": the drills alone)."""
    if name not in ("tasks", "chat"):
        raise LmlabError(f"unknown built-in SFT data {name!r}; expected chat or tasks")
    return MIXTURE if name == "tasks" else CHAT_MIXTURE


def task(name: str) -> Task:
    if name not in TASKS:
        raise LmlabError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]


def normalize(text: str) -> str:
    return " ".join(text.split())


def grade(prediction: str, answer: str) -> bool:
    """Exact match after whitespace normalisation."""
    return normalize(prediction) == normalize(answer)


def grade_task(name: str, prediction: str, reference: str) -> bool:
    """The task's own grader where it has one (free-text replies), else exact match."""
    return (task(name).grade or grade)(prediction, reference)


def test_examples(name: str, n: int) -> list[tuple[str, str]]:
    """The first n distinct held-out instances (fewer when the task has fewer)."""
    if task(name).test is not None:
        return task(name).test(n)
    return held_out_draws(task(name).make, n)


def train_example(name: str, rng: np.random.Generator) -> tuple[str, str]:
    return train_draw(task(name).make, rng)


# The drills whose answers `lmlab sft --tools` sends through the calculator (lmlab.data.arithmetic).
ARITHMETIC_TASKS = ("add_1d", "add_2d", "add_3d", "add_4d", "sub", "mul", "mul_2x2")


def builtin_conversations(
    n: int = BUILTIN_SIZE, seed: int = 0, mixture: dict | None = None, tools: bool = False
) -> list[list[dict]]:
    """n training conversations drawn from the task mixture (one user and one assistant turn; with tools, the
    arithmetic drills answered through the calculator)."""
    return list(iter_builtin_conversations(n, seed, mixture, tools))


def as_conversation(name: str, prompt: str, answer: str, rng, tools: bool) -> list[dict]:
    """One (prompt, answer) of task `name` as messages; with tools an arithmetic drill goes through the calculator
    (rephrased at times with rng; rng None keeps the drill's phrasing)."""
    if tools and name in ARITHMETIC_TASKS:
        from lmlab.data.arithmetic import tool_conversation

        return tool_conversation(prompt, answer, rng)
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def iter_builtin_conversations(
    n: int = BUILTIN_SIZE, seed: int = 0, mixture: dict | None = None, tools: bool = False
) -> Iterator[list[dict]]:
    """builtin_conversations() one at a time, so SFT data preparation never holds all n."""
    mixture = mixture or MIXTURE
    names = list(mixture)
    p = np.array([mixture[k] for k in names], dtype=np.float64)
    rng = np.random.default_rng([seed, 4])
    for i in rng.choice(len(names), size=n, p=p / p.sum()):
        prompt, answer = train_example(names[i], rng)
        messages = as_conversation(names[i], prompt, answer, rng, tools)
        if rng.random() < SYSTEM_FRACTION:
            messages.insert(0, {"role": "system", "content": SYSTEM_PROMPT})
        yield messages


def held_out_conversations(n_per_task: int, mixture: dict | None = None, tools: bool = False) -> list[list[dict]]:
    """Held-out conversations of every task in the mixture, for the SFT validation loss (tasks graded by a rule
    of their own are left out: their references are not replies); with tools, the arithmetic through the calculator
    (in the drills' own phrasing)."""
    return [
        as_conversation(name, prompt, answer, None, tools)
        for name in (mixture or MIXTURE)
        if task(name).grade is None
        for prompt, answer in test_examples(name, n_per_task)
    ]


def list_task_datasets() -> list[tuple[str, str, str]]:
    """(name, kind, description) of the built-in SFT data and each task, for `lmlab data list`."""
    mix = ", ".join(f"{k} {v:.0%}" for k, v in MIXTURE.items())
    chat = ", ".join(f"{k} {v:.1%}" for k, v in CHAT_MIXTURE.items() if k not in MIXTURE)
    rows = [
        ("chat", "sft", f"the default SFT data: {BUILTIN_SIZE:,} conversations, the task mixture at {DRILL_SHARE:.0%} "
         f"of its shares, and {chat}"),
        ("tasks", "sft", f"{BUILTIN_SIZE:,} conversations of the task mixture ({mix}); lmlab sft --data tasks"),
    ]  # fmt: skip
    return rows + [
        (t.name, "task", t.description + ("" if t.test else "; ~10% of instances held out for lmlab eval --tasks"))
        for t in TASKS.values()
    ]
