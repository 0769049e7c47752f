import re

import numpy as np
import pytest

from lmlab.data import tasks
from lmlab.errors import LmlabError


def test_grader_normalises_whitespace_only():
    assert tasks.grade("  1  2\t3 \n", "1 2 3")
    assert tasks.grade("tpecca", "tpecca")
    assert not tasks.grade("123", "1 2 3")  # a wrong format is wrong
    assert not tasks.grade("The answer is 85", "85")
    assert not tasks.grade("85.", "85")
    assert not tasks.grade("Genesis 1:1", "genesis 1:1")


@pytest.mark.parametrize(
    "name", ["add_2d", "add_3d", "sub", "mul", "spell", "count_letter", "reverse_word", "sort_list", "max_list"]
)
def test_answers_are_right(name):
    for prompt, answer in tasks.test_examples(name, 20):
        if name.startswith("add") or name in ("sub", "mul"):
            a, op, b = prompt.removeprefix("What is ").removesuffix("?").split()
            assert int(answer) == {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
        elif name == "spell":
            assert answer.replace(" ", "") == prompt.split("'")[1]
        elif name == "reverse_word":
            word = prompt.split("'")[1]
            assert answer == " ".join(reversed(word)) and 3 <= len(word) <= 6
        elif name == "count_letter":
            letter, word = prompt.split("'")[1], prompt.split("'")[3]
            assert int(answer) == word.count(letter)
        elif name == "sort_list":
            assert answer == ", ".join(map(str, sorted(int(x) for x in prompt.split(": ")[1].split(", "))))
        elif name == "max_list":
            assert int(answer) == max(int(x) for x in prompt.split(": ")[1].removesuffix("?").split(", "))


@pytest.mark.parametrize("name", ["add_2d", "reverse_word", "verse_reference", "chatterbot"])
def test_held_out_instances_are_fixed_and_never_trained_on(name):
    test = tasks.test_examples(name, 50)
    assert test == tasks.test_examples(name, 50) and len(test) >= 30
    assert all(tasks.is_held_out(p) for p, _ in test)
    rng = np.random.default_rng(0)
    train = {tasks.train_example(name, rng)[0] for _ in range(500)}
    assert not train & {p for p, _ in test}


def test_builtin_mixture_follows_its_proportions_and_has_no_test_prompt():
    conversations = tasks.builtin_conversations(2000, seed=1)
    assert conversations == tasks.builtin_conversations(2000, seed=1)
    users = [c[-2]["content"] for c in conversations]
    share_3d = np.mean([u.startswith("What is ") and len(u.split()[2]) == 3 and u.split()[3] == "+" for u in users])
    assert abs(share_3d - tasks.MIXTURE["add_3d"]) < 0.03
    with_system = np.mean([c[0]["role"] == "system" for c in conversations])
    assert abs(with_system - tasks.SYSTEM_FRACTION) < 0.03
    assert not any(tasks.is_held_out(u) for u in users)
    assert abs(sum(tasks.MIXTURE.values()) - 1.0) < 1e-9


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(LmlabError, match="unknown task 'add9'.*add_2d"):
        tasks.test_examples("add9", 5)


def test_the_chat_mixture_draws_small_talk_at_its_share():
    # (that it never trains on a held-out prompt: tests/test_held_out.py)
    mixture = tasks.mixture("chat")
    conversations = tasks.builtin_conversations(3000, seed=2, mixture=mixture)
    # chit-chat pairs at the mixture's small-talk share (less the identity answers)
    from lmlab.data.smalltalk import IDENTITY_SHARE, chitchat_pairs

    chat = {p for p, _ in chitchat_pairs()}
    share = mixture["smalltalk"] / sum(mixture.values()) * (1 - IDENTITY_SHARE)
    assert np.mean([c[-2]["content"] in chat for c in conversations]) == pytest.approx(share, abs=0.015)


def test_free_text_tasks_are_graded_by_their_own_rule():
    assert tasks.grade_task("smalltalk", "I'm good, thanks! How are you?", "")
    assert not tasks.grade_task("smalltalk", "71", "")
    assert tasks.grade_task("refusal", "I can't help with that, but I can suggest a safer idea.", "a refusal")
    assert not tasks.grade_task("benign", "I'm sorry, but I won't help with that.", "an answer")
    assert tasks.grade_task("reading", "office", "office") and not tasks.grade_task("reading", "garden", "office")
    from lmlab.data.refusals import ROAST_PROMPT

    assert tasks.test_examples("refusal", 1)[0][0] == ROAST_PROMPT  # the story's prompt is the first refusal test


def test_the_built_in_mixtures_are_named_chat_and_tasks():
    assert set(tasks.mixture("tasks")) == set(tasks.MIXTURE) and "smalltalk" not in tasks.mixture("tasks")
    assert {"smalltalk", "refusal", "howto", "reading", "elements"} <= set(tasks.mixture("chat"))
    assert sum(tasks.mixture("chat").values()) == pytest.approx(1.0)
    with pytest.raises(LmlabError, match="chat or tasks"):
        tasks.mixture("drills")


def test_data_list_states_each_conversational_source_with_its_license_and_true_size():
    from lmlab.data import refusals
    from lmlab.data.howto import HOWTO_TEST, HOWTO_TRAIN
    from lmlab.data.smalltalk import IDENTITY, chitchat_pairs
    from lmlab.data.wordnet import N_HELD_OUT, WORD_POOL

    def described(name):
        return tasks.task(name).description.replace(",", "")

    sizes = {
        "smalltalk": [len(chitchat_pairs()), len(IDENTITY), len(tasks.smalltalk_test(1000))],
        "chatterbot": [len(tasks.chatterbot_pairs())],
        "refusal": [
            len(refusals.RISK_AREAS),
            len(HOWTO_TRAIN),
            len(refusals.train_prompts()),
            len(refusals.harmful_test()),
        ],
        "benign": [len(refusals.BENIGN_TRAIN), len(refusals.BENIGN_TEST)],
        "howto": [len(HOWTO_TRAIN), len(HOWTO_TEST)],
        "word_meaning": [WORD_POOL, N_HELD_OUT],
    }
    for name, numbers in sizes.items():
        for number in numbers:
            assert re.search(rf"\b{number}\b", described(name)), (name, number)
    licenses = {"smalltalk": "MIT", "chatterbot": "BSD-3-Clause", "refusal": "MIT", "benign": "MIT", "howto": "MIT",
                "reading": "MIT", "reading_2": "MIT", "word_meaning": "WordNet license"}  # fmt: skip
    for name, license_name in licenses.items():
        assert license_name in tasks.task(name).description, name


def test_the_run_report_grades_what_the_sft_data_teaches_benign_look_alikes_with_refusals():
    from lmlab.experiments.pipeline import conversation_tasks

    assert conversation_tasks("tasks") == () and conversation_tasks("my.jsonl") == ()
    assert list(conversation_tasks("chat")) == ["smalltalk", "refusal", "benign", "howto", "reading", "elements"]
