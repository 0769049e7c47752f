import json
import re

import pytest

from lmlab.data import refusals
from lmlab.data.howto import HOWTO, HOWTO_TEST, TABLE, read_howto
from lmlab.errors import LmlabError

# Openers every how-to question may share with a held-out prompt; any 5-word run inside one is no overlap.
GENERIC_OPENERS = ("whats the best way to", "what is the easiest way to", "can you tell me how to")
# The topic of each held-out benign prompt, which no how-to question may touch.
HELD_OUT_TOPICS = (
    "murder", "ballistic", "take a stab", "breeze", "linux", "force quit", "git merge", "shell script", "productivity",
    "portrait", "penalty", "pokemon", "gym leader", "skyrim", "a dragon", "stealth", "debone", "sharpen", "turkey",
    "coconut", "roman empire", "dynamite", "black death", "vinegar and bleach", "bleach and vinegar", "swallow",
    "dart frog", "front door", "change the lock", "phishing", "scam email", "stalk", "bully", "film industry",
    "documents", "tease",
)  # fmt: skip
# Violent- or illicit-sounding words, with their inflections, used here in a harmless sense.
HARMLESS_SENSE = re.compile(
    r"\b(?:kill(?:s|ed|ing)?|shoot(?:s|ing)?|shots?|attack(?:s|ed|ing)?|strik(?:e|es|ing)|fir(?:e|es|ed|ing)"
    r"|crack(?:s|ed|ing)?|break(?:s|ing)?|broken?|cut(?:s|ting)?|bomb(?:s|ed|ing)?|steal(?:s|ing)?|stole"
    r"|explod(?:e|es|ed|ing)|blow(?:s|n|ing)?|blew|hack(?:s|ed|ing)?|burn(?:s|t|ed|ing)?|poison(?:s|ed|ing|ous)?"
    r"|knife|knives|guns?|trap(?:s|ped|ping)?|destroy(?:s|ed|ing)?|sneak(?:s|y|ing)?|fight(?:s|ing)?"
    r"|beat(?:s|en|ing)?|smash(?:es|ed|ing)?|execut(?:e|es|ed|ing)|terminat(?:e|es|ed|ing)|abort(?:s|ed|ing)?)\b"
)
REFUSAL_WORDING = (
    "i can't", "i cannot", "i won't", "i will not", "i'm not able", "i am not able", "sorry", "unable to help",
    "can't help",
)  # fmt: skip


def _norm(text: str) -> str:
    text = re.sub(r"[^\w\s]", "", text.lower().replace("\u2019", "'"))
    return " ".join(text.split())


def _grams(text: str, n: int = 5) -> set[str]:
    words = _norm(text).split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


QUESTIONS = [question for question, _ in HOWTO]
ANSWERS = [answer for _, answer in HOWTO]


def test_there_are_at_least_400_distinct_pairs():
    assert len(HOWTO) >= 400
    assert all(len(pair) == 2 and all(isinstance(s, str) and s.strip() for s in pair) for pair in HOWTO)
    assert len({_norm(q) for q in QUESTIONS}) == len(QUESTIONS)


def test_no_question_repeats_a_refusal_prompt():
    taken = {_norm(p) for p in refusals.BENIGN_TEST} | {_norm(p) for p, _ in refusals.BENIGN_TRAIN}
    assert [q for q in QUESTIONS if _norm(q) in taken] == []


def test_no_question_shares_five_words_with_a_held_out_prompt():
    generic = set().union(*(_grams(opener) for opener in GENERIC_OPENERS))
    for prompt in refusals.BENIGN_TEST:
        held_out = _grams(prompt) - generic
        assert [q for q in QUESTIONS if _grams(q) & held_out] == [], prompt


def test_no_question_touches_a_held_out_topic():
    topic = re.compile(r"\b(?:" + "|".join(map(_norm, HELD_OUT_TOPICS)) + ")")
    assert [q for q in QUESTIONS if topic.search(_norm(q))] == []


def test_answers_are_helpful_never_refusals():
    assert [a for a in ANSWERS if refusals.is_refusal(a)] == []
    assert [a for a in ANSWERS if any(p in a.lower().replace("\u2019", "'") for p in REFUSAL_WORDING)] == []
    assert [a for a in ANSWERS if re.match(r"I\b", a)] == []


def test_questions_and_answers_are_short():
    assert [q for q in QUESTIONS if len(q.split()) > 20 or not q.endswith("?")] == []
    assert [a for a in ANSWERS if len(a.split()) > 35] == []


def test_many_questions_use_a_violent_sounding_word_harmlessly():
    assert sum(1 for q in QUESTIONS if HARMLESS_SENSE.search(q.lower())) >= 80


def test_the_questions_are_read_from_the_shipped_data_file_and_bad_records_name_file_line_and_field(tmp_path):
    assert HOWTO == read_howto(TABLE) and len(HOWTO) == 501 and len(HOWTO_TEST) == 60
    rows = [json.loads(line) for line in TABLE.read_text().splitlines()]
    assert {row["topic"] for row in rows} >= {"cooking and kitchen", "programming", "social life"}
    bad = tmp_path / "howto.jsonl"
    good = {"topic": "t", "question": "How do I boil an egg?", "answer": "Simmer it for eight minutes."}
    for record, message in [
        ({**good, "answer": ""}, "'answer' must be non-empty text"),
        ({k: v for k, v in good.items() if k != "topic"}, "exactly the fields topic, question, answer"),
        ({**good, "question": 3}, "'question' must be non-empty text"),
    ]:
        bad.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n")
        with pytest.raises(LmlabError, match=f"howto.jsonl:2: .*{re.escape(message)}"):
            read_howto(bad)
