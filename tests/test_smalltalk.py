import importlib.util
import json
import re

import numpy as np
import pytest

from lmlab.data import smalltalk, tasks
from lmlab.errors import LmlabError


def _conversation(*turns):
    """A conversation in the chit-chat JSON format from (sender, [texts]) turns."""
    messages = [[{"text": t, "timestamp": "2018-05-02T19:38:15Z", "sender": s} for t in texts] for s, texts in turns]
    return {"messages": messages, "start": "2018-05-02T19:38:15Z"}


def _write(tmp_path, data, name="chat.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_chitchat_pairs_are_short_and_clean():
    pairs = smalltalk.chitchat_pairs()
    assert len(pairs) > 60_000 and len(set(pairs)) == len(pairs)
    banned = set(smalltalk.PROFANITY) | set(smalltalk.FIRST_NAMES)
    for prompt, reply in pairs:
        for text in (prompt, reply):
            assert 0 < len(text) <= smalltalk.MAX_CHARS and len(text.split()) <= smalltalk.MAX_WORDS
            assert text == " ".join(text.split())
            assert not set(re.findall(r"[a-z]+", text.lower())) & banned
            assert not re.search(r"https?://|www\.|@\w|\d{7}", text)
        assert not smalltalk.is_off_task(reply)


def test_chitchat_pairs_are_adjacent_turns_of_different_senders():
    pairs = set(smalltalk.chitchat_pairs())
    # The first conversation of the package's dataset.json: two messages by one sender, then three by the other.
    known = ("Hello How are you doing today?", "whats up MD im doing good how are you doing?")
    assert known in pairs and known[::-1] not in pairs


def test_pairs_join_a_turn_pair_adjacent_turns_and_drop_what_the_filters_catch(tmp_path):
    data = {
        "a": _conversation(
            ("x", ["Hello", "  how are   you?", ""]),
            ("y", ["Fine, thanks."]),
            ("x", ["Call me at 555-123-4567"]),
            ("y", ["Sure thing"]),
            ("x", ["I met John today"]),
            ("y", ["Oh nice"]),
            ("x", ["What the hell"]),
            ("y", ["see www.example.com"]),
            ("x", ["word " * 21]),
            ("y", ["How old are you?"]),
            ("x", ["22"]),
        ),
        "b": _conversation(("x", ["Hello how are you?"]), ("y", ["Fine, thanks."])),  # a duplicate
        "c": _conversation(("x", ["Are you there?"]), ("x", ["Hello?"])),  # one sender twice: no reply
    }
    pairs = smalltalk.chitchat_pairs(_write(tmp_path, data))
    assert pairs == (("Hello how are you?", "Fine, thanks."),)


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ([1, 2], "top level is a list"),
        ({"a": {"turns": []}}, "no list of messages"),
        ({"a": {"messages": [[{"sender": "x"}]]}}, "not a list of messages"),
    ],
)
def test_missing_or_malformed_json_names_the_file(tmp_path, content, expected):
    path = tmp_path / "chat.json" if content is None else _write(tmp_path, content)
    with pytest.raises(LmlabError, match=expected) as error:
        smalltalk.chitchat_pairs(path)
    assert str(path) in str(error.value) and "expected" in str(error.value)


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LmlabError, match=r"pip install chitchat-dataset"):
        smalltalk.chitchat_pairs()


def test_identity_answers_say_what_the_model_is():
    questions = [q for q, _ in smalltalk.IDENTITY]
    assert len(questions) >= 30 and len(set(questions)) == len(questions)
    for _, answer in smalltalk.IDENTITY:
        assert "lmlab" in answer
        assert len(re.findall(r"[.!?](?:\s|$)", answer)) <= 2 and len(answer) <= 160


def test_openers_are_100_distinct_and_never_drawn_for_training():
    openers = {smalltalk._normalize(o) for o in smalltalk.OPENERS_TEST}
    assert len(smalltalk.OPENERS_TEST) == 100 and len(openers) == 100
    rng = np.random.default_rng(0)
    draws = [smalltalk.smalltalk_train_example(rng) for _ in range(20_000)]
    again = np.random.default_rng(0)
    assert draws[:50] == [smalltalk.smalltalk_train_example(again) for _ in range(50)]
    assert not {smalltalk._normalize(p) for p, _ in draws} & openers
    assert not any(tasks.is_held_out(p) for p, _ in draws)
    identity = set(smalltalk.IDENTITY)
    assert abs(np.mean([d in identity for d in draws]) - smalltalk.IDENTITY_SHARE) < 0.02


@pytest.mark.parametrize(
    "reply", ["71", "-3", "3, 17, 42", "3 17 42", "85.", "s t o n e", "E N O T S", "Genesis 1:1", "1 John 3:16",
              "Song of Songs 2:1", "", "   "],
)  # fmt: skip
def test_drill_answers_are_off_task(reply):
    assert smalltalk.is_off_task(reply)


@pytest.mark.parametrize(
    "reply", ["I am 25 years old", "Hello! How are you?", "I", "Good, thanks.", "About 7:30", "Meet me at 7:30",
              "I read Genesis 1:1 today.", "John is my friend", "No.", "a lot", "3 cats"],
)  # fmt: skip
def test_conversation_is_on_task(reply):
    assert not smalltalk.is_off_task(reply)
