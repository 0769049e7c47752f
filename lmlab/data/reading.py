"""Reading comprehension in the style of bAbI (Weston et al. 2015, "Towards AI-Complete Question Answering: A Set
of Prerequisite Toy Tasks"), generated here rather than downloaded.

Task 1, single supporting fact: a story of 2-6 sentences in which 2-3 people move between places, then a question
about one of them; the answer is the place of that person's latest move, so the model must find the last sentence
that names them, not the first:
    Mary went to the kitchen. John journeyed to the garden. Mary moved to the office. Where is Mary? -> office
Task 2, two supporting facts: people also pick objects up and drop them, and the question asks where an object is:
the place of whoever holds it (two facts: who took it, and where that person went last), or where it was dropped:
    John went to the garden. John picked up the apple there. John travelled to the office. Where is the apple? -> office

Prompt format: the sentences, then the question, on one line separated by single spaces. The answer is the place
word alone (no article, no full stop), graded by exact match (`tasks.grade`). Stories are at most 6 sentences of at
most 6 words, so a prompt is at most 40 words and fits a 128-token context with its answer.

Held-out split as in `tasks`: a story is a test story when `tasks.is_held_out(prompt)`; the training generator rejects
those, so no test story is ever trained on. The test set is the first n distinct held-out stories drawn with a fixed
seed.
"""

import numpy as np

from lmlab.data.splits import held_out_draws, train_draw
from lmlab.errors import LmlabError

NAMES = ("Mary", "John", "Daniel", "Sandra", "Emma", "Omar", "Lucy", "Peter", "Aisha", "Kenji")
PLACES = ("kitchen", "garden", "office", "bathroom", "hallway", "bedroom", "cellar", "library")
MOVES = ("went to", "journeyed to", "moved to", "travelled to", "went back to", "ran to")
OBJECTS = ("football", "apple", "milk", "book", "key", "hat")
PICK_UPS = ("picked up", "got", "grabbed", "took")  # "Mary got the milk there."
DROPS = ("dropped", "put down", "discarded", "left")  # "Mary dropped the milk."
MIN_SENTENCES, MAX_SENTENCES = 2, 6


def _pick(rng, options):
    return options[int(rng.random() * len(options))]  # rng.random is several times cheaper than rng.integers


def _cast(rng) -> list[str]:
    """2-3 distinct people: few enough that each tends to move more than once."""
    return [NAMES[i] for i in rng.permutation(len(NAMES))[: _pick(rng, (2, 3))]]


def _length(rng) -> int:
    return _pick(rng, range(MIN_SENTENCES, MAX_SENTENCES + 1))


def single_supporting_fact(rng: np.random.Generator) -> tuple[str, str]:
    """bAbI task 1: (story and "Where is <person>?", the place of their latest move)."""
    cast, where = _cast(rng), {}
    sentences = []
    for _ in range(_length(rng)):
        person = _pick(rng, cast)
        place = _pick(rng, [p for p in PLACES if p != where.get(person)])  # a move always changes place
        where[person] = place
        sentences.append(f"{person} {_pick(rng, MOVES)} the {place}.")
    person = _pick(rng, sorted(where))  # someone the story places
    return " ".join(sentences + [f"Where is {person}?"]), where[person]


def two_supporting_facts(rng: np.random.Generator) -> tuple[str, str]:
    """bAbI task 2: (story and "Where is the <object>?", the holder's latest place or where it was dropped)."""
    while True:  # rejection: a story in which no object has a known place is drawn again
        cast, objects = _cast(rng), [OBJECTS[i] for i in rng.permutation(len(OBJECTS))[: _pick(rng, (1, 2))]]
        where, holder, dropped_at = {}, {}, {}  # person -> place, object -> person, object -> place
        sentences = []
        for _ in range(_length(rng)):
            # An object lies where it was dropped (or, before it is mentioned, wherever the taker stands).
            pick_ups = [
                (p, o)
                for p in cast
                for o in objects
                if p in where and o not in holder and dropped_at.get(o, where[p]) == where[p]
            ]
            drops = sorted((p, o) for o, p in holder.items())
            move, pick_up = 0.5, 0.3 if pick_ups else 0.0  # drop: 0.2 when someone holds something
            u = rng.random() * (move + pick_up + (0.2 if drops else 0.0))
            if u < move:
                person = _pick(rng, cast)
                where[person] = _pick(rng, [p for p in PLACES if p != where.get(person)])
                sentences.append(f"{person} {_pick(rng, MOVES)} the {where[person]}.")
            elif u < move + pick_up:
                person, thing = _pick(rng, pick_ups)
                holder[thing] = person
                dropped_at.pop(thing, None)
                sentences.append(f"{person} {_pick(rng, PICK_UPS)} the {thing} there.")
            else:
                person, thing = _pick(rng, drops)
                dropped_at[thing] = where[holder.pop(thing)]
                sentences.append(f"{person} {_pick(rng, DROPS)} the {thing}.")
        located = {o: where[p] for o, p in holder.items()} | dropped_at
        if located:
            thing = _pick(rng, sorted(located))
            return " ".join(sentences + [f"Where is the {thing}?"]), located[thing]


GENERATORS = {1: single_supporting_fact, 2: two_supporting_facts}
TASK_NAMES = {1: "reading", 2: "reading_2"}  # their names in lmlab.data.tasks


def _generator(supporting_facts: int):
    if supporting_facts not in GENERATORS:
        raise LmlabError(f"reading task supporting_facts must be 1 or 2, got {supporting_facts!r}")
    return GENERATORS[supporting_facts]


def reading_train_example(rng: np.random.Generator, supporting_facts: int = 1) -> tuple[str, str]:
    """(prompt, answer) of a story that is not held out (lmlab.data.splits, as tasks "reading" and "reading_2")."""
    return train_draw(_generator(supporting_facts), rng)


def reading_test(n: int, supporting_facts: int = 1) -> list[tuple[str, str]]:
    """The first n distinct held-out stories (lmlab.data.splits.held_out_draws): the same list on every call."""
    return held_out_draws(_generator(supporting_facts), n)
