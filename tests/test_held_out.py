"""No held-out prompt or reply ever enters any training text: not the default pre-training corpus (web-chat), not the
built-in SFT mixture. Each figure the run reports on held-out data depends on it."""

import functools

import pytest

from lmlab.data import corpus, tasks
from lmlab.data.howto import HOWTO_TEST, HOWTO_TRAIN
from lmlab.data.smalltalk import OPENERS_TEST, _normalize, chitchat_conversations, chitchat_test_pairs


@functools.cache
def training_text() -> tuple[str, frozenset, frozenset]:
    """The default corpus's training documents: (all the text, its lines, its adjacent line pairs)."""
    docs = list(corpus.web_chat_documents())
    lines, pairs = set(), set()
    for doc in docs:
        rows = doc.split("\n")
        lines.update(rows)
        pairs.update(zip(rows, rows[1:]))
    return "".join(docs), frozenset(lines), frozenset(pairs)


def test_the_held_out_openers_are_no_line_of_the_pre_training_text():
    _, lines, _ = training_text()
    assert len(lines) > 100_000
    assert not {_normalize(o) for o in OPENERS_TEST} & set(map(_normalize, lines))  # up to case and punctuation


def test_no_held_out_conversation_or_exchange_is_in_the_pre_training_text():
    text, _, pairs = training_text()
    held = chitchat_test_pairs()
    assert len(held) >= 200
    assert not set(held) & pairs
    # the long, distinctive turns of the 700 held-out conversations appear nowhere in the training text
    distinctive = [t for _, turns in chitchat_conversations("test") for _, t in turns if len(t) >= 80]
    assert len(distinctive) > 1000
    assert not [t for t in distinctive if t in text]


def test_held_out_how_to_questions_and_answers_are_in_no_training_text():
    text, _, _ = training_text()
    assert len(HOWTO_TEST) >= 50 and not set(HOWTO_TEST) & set(HOWTO_TRAIN)
    assert not [q for q, a in HOWTO_TEST if q in text or a in text]
    assert all(q in text and a in text for q, a in HOWTO_TRAIN[:20])  # the training ones are there: the check can see


def test_held_out_prompts_of_every_graded_task_are_in_no_training_text():
    text, lines, _ = training_text()
    graded = ("refusal", "benign", "howto", "elements", "reading", "add_2d", "add_3d", "reverse_word", "count_letter",
              "spell", "max_list", "verse_reference")  # fmt: skip
    held = [p for name in graded for p, _ in tasks.test_examples(name, 200)]
    assert len(held) > 1900
    assert not [p for p in held if p in lines]  # a prompt of the tasks' text is a line of its own
    # and a request appears nowhere (a story may end another: "Mary ran to the bathroom. " + a held-out story)
    requests = [p for name in graded[:4] for p, _ in tasks.test_examples(name, 200)]
    assert not [p for p in requests if p in text]
    trained = [example.split("\n")[0] for example in next(corpus.task_documents()).split("\n\n")]
    assert len(trained) == 50 and all(p in lines for p in trained)  # the check sees what is trained


def test_the_web_validation_chapters_are_not_trained_on():
    train, val = corpus.bible_split("web")
    assert not set(train) & set(val)
    text, _, _ = training_text()
    assert all(chapter not in text for chapter in val)
    assert sum(map(len, val)) / sum(map(len, train + val)) == pytest.approx(0.1, abs=0.005)


def test_no_sft_training_prompt_or_reply_of_the_chat_mixture_is_held_out():
    conversations = tasks.builtin_conversations(20_000, seed=3, mixture=tasks.mixture("chat"))
    users = {c[-2]["content"] for c in conversations}
    replies = {(c[-2]["content"], c[-1]["content"]) for c in conversations}
    held = {p for name in ("smalltalk", "refusal", "benign", "howto", "elements", "reading", "reading_2") for p, _ in
            tasks.test_examples(name, 200)}  # fmt: skip
    assert len(held) > 700 and not users & held
    assert not replies & set(chitchat_test_pairs())
    assert not {_normalize(u) for u in users} & {_normalize(o) for o in OPENERS_TEST}
    everything = "\n".join(users)  # decorated prompts ("Hi! " + question + " Thanks!") hold the question whole
    assert not [q for q, _ in HOWTO_TEST if q in everything]
