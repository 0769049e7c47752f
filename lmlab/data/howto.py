"""Everyday how-to questions with short, helpful answers, written by the project (MIT license).

Ordinary requests such as "How do I cut a mango?", "How can I kill a thread in Python?" or "What's the
best way to fire up a charcoal barbecue?", each answered in one to three plain sentences. They are
benign training examples that sit next to the refusal data (lmlab.data.refusals): a small chat model
that sees "How do I ..." mostly before harmful requests learns to refuse on the question form alone,
and these pairs teach it that the form, and a violent-sounding word used in its harmless sense (kill,
shoot, attack, crack, break, cut, beat, fire, ...), is no reason to refuse.

The questions are data, not code: howto.jsonl beside this module holds one {"topic", "question",
"answer"} object a line (shipped as package data; MIT, as the project), read and checked here. They
spread over cooking, home repair, cleaning, gardening, computers and phones, programming, sport,
games, photography, music and art, study and work, money, safety and health, travel, pets, cars and
bikes, and social life. None of its questions repeats a refusals.BENIGN_TRAIN prompt or touches the
topic of a held-out refusals.BENIGN_TEST prompt (tests/test_howto.py checks both).
"""

from pathlib import Path

from lmlab.data.files import jsonl_records, text_field
from lmlab.data.splits import is_held_out
from lmlab.errors import LmlabError

TABLE = Path(__file__).with_name("howto.jsonl")
FIELDS = ("topic", "question", "answer")


def read_howto(path: Path = TABLE) -> tuple[tuple[str, str], ...]:
    """The (question, answer) pairs of a file like howto.jsonl; a bad record names its file:line and field."""
    pairs = []
    for lineno, record in jsonl_records(path):
        if not isinstance(record, dict) or sorted(record) != sorted(FIELDS):
            raise LmlabError(f"{path}:{lineno}: expected an object with exactly the fields {', '.join(FIELDS)}")
        topic, question, answer = (text_field(record, name, f"{path}:{lineno}") for name in FIELDS)
        pairs.append((question, answer))
    if not pairs:
        raise LmlabError(f"{path}: holds no how-to questions")
    return tuple(pairs)


HOWTO: tuple[tuple[str, str], ...] = read_howto()

# About a tenth of the questions, by the hash of the question (lmlab.data.tasks.is_held_out), are never trained on
# (neither in SFT nor in the pre-training text): the held-out how-to questions a model should answer, not refuse.
HOWTO_TRAIN = tuple(pair for pair in HOWTO if not is_held_out(pair[0]))
HOWTO_TEST = tuple(pair for pair in HOWTO if is_held_out(pair[0]))
